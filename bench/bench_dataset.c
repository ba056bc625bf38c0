/* bench_dataset: ds_load of a nnU-Net raw dataset whose dataset.json declares
 * many labels (BENCH_LABELS, default 200,000, against a tenth of it), per
 * label, against parsing the same dataset.json with cJSON alone, measured in
 * the same run: the checks on "labels" must grow like the parse does
 * (linearly), not with the square of the labels. A benchmark, not a test: it
 * prints numbers and PASS/FAIL, and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "bench.h"
#include "casebisect/dataset.h"
#include "casebisect/util.h"

/* A load per label at the full size may cost at most this many times what
 * it costs at a tenth: linear is about 1, quadratic 10. */
#define TARGET_GROWTH 2.0

static void put_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die("cannot write %s", path);
}

/* dataset.json with n labels ("background": 0, "label_1": 1, ...). */
static char *dataset_json(size_t n, size_t *len)
{
	size_t cap = 128 + n * 32, o, i;
	char *s = xmalloc(cap);

	o = (size_t)snprintf(s, cap, "{\"channel_names\": {\"0\": \"CT\"}, \"numTraining\": 1, "
			     "\"file_ending\": \".nii.gz\", \"labels\": {\"background\": 0");
	for (i = 1; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, ", \"label_%zu\": %zu", i, i);
	o += (size_t)snprintf(s + o, cap - o, "}}\n");
	*len = o;
	return s;
}

struct row {
	size_t labels;
	double parse_s; /* (a) cJSON_Parse of dataset.json's text, median */
	double load_s;  /* (b) ds_load of the dataset, median */
};

static void measure(const char *dir, size_t n, size_t repeat, struct row *r)
{
	char *path = cb_path_join(dir, "dataset.json"), err[512];
	double *a = xmalloc(repeat * sizeof(*a)), *b = xmalloc(repeat * sizeof(*b));
	size_t len, i;
	char *text = dataset_json(n, &len);

	put_file(path, text, len);
	for (i = 0; i < repeat; i++) {
		struct dataset ds;
		cJSON *j;
		double t0 = bench_now();

		j = cJSON_Parse(text);
		a[i] = bench_now() - t0;
		if (!j)
			die("dataset.json of %zu labels does not parse", n);
		cJSON_Delete(j);
		t0 = bench_now();
		if (ds_load(&ds, dir, NULL, err, sizeof(err)))
			die("ds_load: %s", err);
		b[i] = bench_now() - t0;
		ds_release(&ds);
	}
	r->labels = n;
	r->parse_s = bench_median(a, repeat);
	r->load_s = bench_median(b, repeat);
	free(a);
	free(b);
	free(text);
	free(path);
}

int main(void)
{
	size_t n = bench_env_size("BENCH_LABELS", 200000, 10, 10000000);
	size_t repeat = bench_env_size("BENCH_REPEAT", 3, 1, 1000), i;
	char dir[] = "/tmp/casebisect-bench-XXXXXX", cmd[128];
	struct row rows[2];
	double growth, parse_growth;

	if (!mkdtemp(dir))
		die("mkdtemp: cannot create %s", dir);
	{
		char *im = cb_path_join(dir, "imagesTr"), *lb = cb_path_join(dir, "labelsTr"), *f;

		if (mkdir(im, 0755) || mkdir(lb, 0755))
			die("mkdir in %s", dir);
		f = cb_path_join(im, "case_000_0000.nii.gz");
		put_file(f, "x", 1);
		free(f);
		f = cb_path_join(lb, "case_000.nii.gz");
		put_file(f, "x", 1);
		free(f);
		free(im);
		free(lb);
	}
	measure(dir, n / 10, repeat, &rows[0]);
	measure(dir, n, repeat, &rows[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "bench_dataset: could not remove %s\n", dir);

	printf("bench_dataset: ds_load of a nnU-Net raw dataset (1 case) whose dataset.json has "
	       "N labels; medians of %zu\n", repeat);
	printf("  %9s  %-28s  %-28s  %s\n", "labels", "(a) cJSON_Parse alone",
	       "(b) ds_load", "ratio b/a");
	for (i = 0; i < 2; i++)
		printf("  %9zu  %8.1f ms  %7.3f us/label  %8.1f ms  %7.3f us/label  %6.2f\n",
		       rows[i].labels, rows[i].parse_s * 1e3,
		       rows[i].parse_s * 1e6 / (double)rows[i].labels, rows[i].load_s * 1e3,
		       rows[i].load_s * 1e6 / (double)rows[i].labels,
		       rows[i].load_s / rows[i].parse_s);
	growth = (rows[1].load_s / (double)rows[1].labels) / (rows[0].load_s / (double)rows[0].labels);
	parse_growth = (rows[1].parse_s / (double)rows[1].labels) /
		       (rows[0].parse_s / (double)rows[0].labels);
	printf("  per-label time, %zu vs %zu labels: ds_load %.2fx, cJSON_Parse %.2fx (linear: ~1, "
	       "quadratic: ~10)\n", rows[1].labels, rows[0].labels, growth, parse_growth);
	printf("%s  ds_load per label grows %.2fx from %zu to %zu labels %s %.1fx\n",
	       growth <= TARGET_GROWTH ? "PASS" : "FAIL", growth, rows[0].labels, rows[1].labels,
	       growth <= TARGET_GROWTH ? "<=" : ">", TARGET_GROWTH);
	return 0;
}
