/* test_report_html: report.html and the culprits' pictures, seen the way a
 * user sees them: a toy run (examples/mkcases, harness/toytrain), the page
 * rendered by headless Chromium, the PNGs read back with cairo. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairo.h>

#include "casebisect/dataset.h"
#include "casebisect/journal.h"
#include "casebisect/pictures.h"
#include "casebisect/report.h"
#include "casebisect/report_html.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(report_html, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* mkcases into tmpdir/ds: 8 cases of 16^3, the bad ones given as
 * "--bad case_002=7 ..." (where: centre or corner). */
static char *toy_dataset(const char *bad, const char *where)
{
	char *mk = src_file("examples/mkcases"), *dir = at("ds");
	char *cmd = cb_fmt("'%s' --cases 8 --size 16 %s --bad-at %s '%s' >/dev/null", mk, bad, where,
			   dir);

	cr_assert(system(cmd) == 0, "mkcases failed: %s", cmd);
	free(cmd);
	free(mk);
	return dir;
}

/* casebisect run on ds with the toy trainer into tmpdir/wd; pictures: the
 * --pictures value or NULL. Returns the work directory. */
static char *toy_run(const char *ds, const char *pictures)
{
	struct run r;
	char *wd = at("wd"), *toy = src_file("harness/toytrain");

	if (pictures)
		run(&r, "run", "--workdir", wd, "--gpus", "none", "--pictures", pictures, ds, "--",
		    toy, "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	else
		run(&r, "run", "--workdir", wd, "--gpus", "none", ds, "--", toy, "--cases-file",
		    "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "verdict: culprits_found"), "%s", r.out);
	run_release(&r);
	free(toy);
	return wd;
}

/* A PNG read back: its size and how many pixels are exactly (r, g, b). */
struct png {
	int width, height;
	size_t matching;
	/* the bounding box of the matching pixels */
	int x0, y0, x1, y1;
};

static struct png read_png(const char *path, unsigned r, unsigned g, unsigned b)
{
	cairo_surface_t *s = cairo_image_surface_create_from_png(path);
	struct png p = { 0, 0, 0, 1 << 30, 1 << 30, -1, -1 };
	unsigned char *data;
	int x, y, stride;

	cr_assert_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS, "%s: %s", path,
		     cairo_status_to_string(cairo_surface_status(s)));
	cairo_surface_flush(s);
	p.width = cairo_image_surface_get_width(s);
	p.height = cairo_image_surface_get_height(s);
	data = cairo_image_surface_get_data(s);
	stride = cairo_image_surface_get_stride(s);
	for (y = 0; y < p.height; y++)
		for (x = 0; x < p.width; x++) {
			uint32_t px;

			memcpy(&px, data + (size_t)y * (size_t)stride + (size_t)x * 4, 4);
			if (((px >> 16) & 0xff) == r && ((px >> 8) & 0xff) == g && (px & 0xff) == b) {
				p.matching++;
				p.x0 = x < p.x0 ? x : p.x0;
				p.y0 = y < p.y0 ? y : p.y0;
				p.x1 = x > p.x1 ? x : p.x1;
				p.y1 = y > p.y1 ? y : p.y1;
			}
		}
	cairo_surface_destroy(s);
	return p;
}

static struct png read_red(const char *path)
{
	return read_png(path, PIC_OFFEND_R, PIC_OFFEND_G, PIC_OFFEND_B);
}

/* Headless Chromium on file://WD/report.html with extra (--screenshot=...
 * or --dump-dom); stdout and stderr (with Chromium's logging) into files of
 * tmpdir. Returns its exit status. */
static int chromium(const char *wd, const char *extra, const char *out, const char *err)
{
	char *url = cb_fmt("file://%s/report.html", wd), *profile = at("chromium-profile");
	char *prof_arg = cb_fmt("--user-data-dir=%s", profile);
	char *const argv[] = { "/usr/bin/timeout", "120", "chromium", "--headless", "--no-sandbox",
			       "--disable-gpu", "--enable-logging=stderr", "--v=0",
			       "--window-size=1200,2000", "--hide-scrollbars", prof_arg,
			       (char *)extra, url, NULL };
	int code = wait_exit(spawn_argv(argv, out, err));

	free(url);
	free(prof_arg);
	free(profile);
	return code;
}

/* Every src="..." of an <img> in the DOM names a file under wd; returns
 * how many there are. */
static size_t assert_images_exist(const char *dom, const char *wd)
{
	const char *p = dom;
	size_t n = 0;

	while ((p = strstr(p, "<img "))) {
		const char *src = strstr(p, "src=\""), *end;
		char *rel, *path;

		cr_assert(src, "an <img> without src: %.200s", p);
		src += 5;
		end = strchr(src, '"');
		rel = strndup(src, (size_t)(end - src));
		path = cb_path_join(wd, rel);
		cr_assert(access(path, R_OK) == 0, "<img src=\"%s\">: %s is missing", rel, path);
		free(path);
		free(rel);
		n++;
		p = end;
	}
	return n;
}

/* The whole page: Chromium renders it without an error; the DOM holds the
 * timeline (a bar per trial), the shrink curve and one picture per
 * culprit, each of them a file that exists; the screenshot has the window's
 * size and shows the pictures' red voxels; each picture has the size its
 * <img> says and the culprit's red voxels. */
Test(report_html, chromium_renders_the_page_and_every_picture)
{
	char *ds = toy_dataset("--bad case_002=7 --bad case_005=255", "centre");
	char *wd = toy_run(ds, NULL), *shot = at("shot.png"), *shot_arg = cb_fmt("--screenshot=%s",
										  shot);
	char *out = at("chromium.out"), *err = at("chromium.err"), *dom, *log, *md, *line;
	char *pic;
	struct png p;
	size_t nimg, i, red_in_pictures = 0;
	int code;

	code = chromium(wd, shot_arg, out, err);
	log = cb_read_file(err, NULL);
	cr_assert_eq(code, 0, "chromium --screenshot exit %d:\n%s", code, log);
	cr_assert(!strstr(log, "Failed to load"), "%s", log);
	cr_assert(!strstr(log, ":CONSOLE"), "the page logged to the console:\n%s", log);
	free(log);
	code = chromium(wd, "--dump-dom", out, err);
	log = cb_read_file(err, NULL);
	cr_assert_eq(code, 0, "chromium --dump-dom exit %d:\n%s", code, log);
	dom = cb_read_file(out, NULL);
	cr_assert(dom && strstr(dom, "<svg id=\"timeline\""), "no timeline:\n%s", dom);
	cr_assert(strstr(dom, "<svg id=\"shrink\""), "no shrink curve");
	cr_assert(strstr(dom, "class=\"trial FAIL\"") && strstr(dom, "class=\"trial PASS\""),
		  "the timeline has no FAIL and PASS bars");
	cr_assert(strstr(dom, "<polyline class=\"suspects\""), "the curve has no line");
	cr_assert(strstr(dom, "id=\"culprit-1\"") && strstr(dom, "id=\"culprit-2\"") &&
		  !strstr(dom, "id=\"culprit-3\""), "not one picture per culprit");
	nimg = assert_images_exist(dom, wd);
	cr_assert_eq(nimg, 2);

	/* Each picture: 16 voxels scaled by 16 (PIC_MAX_SIDE / 16, at most
	 * PIC_MAX_SCALE), widened to PIC_MIN_WIDTH, under the caption; the
	 * centre cube (mkcases: edge 16/8, voxels 7..8) is red in its slice. */
	line = cb_path_join(wd, "report.md");
	md = cb_read_file(line, NULL);
	cr_assert(md, "no report.md");
	free(line);
	for (i = 1; i <= 2; i++) {
		char *want = cb_fmt("width=\"%d\" height=\"%d\"", PIC_MIN_WIDTH,
				    16 * 16 + PIC_CAPTION_H);

		pic = cb_fmt("%s/pictures/%zu-case_00%c.png", wd, i, i == 1 ? '2' : '5');
		p = read_red(pic);
		cr_assert_eq(p.width, PIC_MIN_WIDTH, "%s: width %d", pic, p.width);
		cr_assert_eq(p.height, 16 * 16 + PIC_CAPTION_H, "%s: height %d", pic, p.height);
		cr_assert_eq(p.matching, 2 * 2 * 16 * 16, "%s: %zu red pixels", pic, p.matching);
		cr_assert_eq(p.x0, 7 * 16, "%s: red from x %d", pic, p.x0);
		cr_assert_eq(p.x1, 9 * 16 - 1);
		red_in_pictures += p.matching;
		cr_assert(strstr(dom, want), "the <img> does not give the PNG's size: %s", want);
		line = cb_fmt("](pictures/%zu-case_00%c.png)", i, i == 1 ? '2' : '5');
		cr_assert(strstr(md, line), "report.md has no link %s:\n%s", line, md);
		free(line);
		free(want);
		free(pic);
	}
	/* The bundle does not hold the pictures: its report.md links none. */
	line = cb_path_join(wd, "bundle/report.md");
	free(md);
	md = cb_read_file(line, NULL);
	cr_assert(md && strstr(md, "case_002") && !strstr(md, "](pictures/"),
		  "the bundle's report.md: %s", md);
	free(line);
	/* The screenshot: the window's size, and both pictures shown (their
	 * red pixels, one to one: nothing else on the page is pure red). */
	p = read_red(shot);
	cr_assert_eq(p.width, 1200, "screenshot width %d", p.width);
	cr_assert_eq(p.height, 2000, "screenshot height %d", p.height);
	cr_assert_eq(p.matching, red_in_pictures, "the screenshot shows %zu red pixels, the "
		     "pictures hold %zu: a picture did not load", p.matching, red_in_pictures);
	free(md);
	free(dom);
	free(log);
	free(out);
	free(err);
	free(shot_arg);
	free(shot);
	free(wd);
	free(ds);
}

/* A cube planted in the corner (voxels 14..15 on each axis): the picture is
 * of slice k=14 (the first of the two that hold it), and its red is the
 * cube's corner, top right (y upwards: j=15 is the top row). */
Test(report_html, the_picture_is_of_the_slice_that_holds_the_planted_cube)
{
	char *ds = toy_dataset("--bad case_003=9", "corner"), *wd = toy_run(ds, NULL);
	char *pic = cb_fmt("%s/pictures/1-case_003.png", wd), *mdp = cb_path_join(wd, "report.md");
	char *md = cb_read_file(mdp, NULL);
	struct png p = read_red(pic);

	cr_assert(strstr(md, "(pictures/1-case_003.png): axial slice k=14, 4 of 8 crashing voxels"),
		  "%s", md);
	cr_assert_eq(p.matching, 2 * 2 * 16 * 16, "%zu red pixels", p.matching);
	cr_assert_eq(p.x0, 14 * 16);
	cr_assert_eq(p.x1, 16 * 16 - 1);
	cr_assert_eq(p.y0, PIC_CAPTION_H, "red from row %d", p.y0);
	cr_assert_eq(p.y1, PIC_CAPTION_H + 2 * 16 - 1);
	free(md);
	free(mdp);
	free(pic);
	free(wd);
	free(ds);
}

/* Overwrites every image of ds with zeros, keeping its size and mtime (the
 * dataset's digest covers those, not the bytes): a file no reader can
 * take for NIfTI. */
static void spoil_images(const char *ds)
{
	char *cmd = cb_fmt("cd '%s/imagesTr' && for f in *.nii.gz; do "
			   "s=$(stat -c %%s \"$f\"); cp -p \"$f\" \"$f.keep\" && "
			   "head -c \"$s\" /dev/zero >\"$f\" && touch -r \"$f.keep\" \"$f\" && "
			   "rm \"$f.keep\"; done", ds);

	cr_assert(system(cmd) == 0, "%s", cmd);
	free(cmd);
}

/* --pictures none draws nothing; --pictures label needs no image (the
 * images spoiled after the run, `casebisect report` draws the same pictures
 * with no warning), while --pictures image reads one (a warning names the
 * spoiled image, and the verdict stays). */
Test(report_html, none_draws_nothing_and_label_reads_no_image)
{
	char *ds = toy_dataset("--bad case_002=7", "centre"), *wd = toy_run(ds, "none");
	char *dir = cb_path_join(wd, "pictures"), *html = cb_path_join(wd, "report.html");
	char *mdp = cb_path_join(wd, "report.md"), *text, *cmd, *pic;
	struct run r;
	struct png p;

	text = cb_read_file(html, NULL);
	cr_assert(text && strstr(text, "id=\"timeline\""), "no report.html");
	cr_assert(!strstr(text, "<img"), "--pictures none drew a picture");
	free(text);
	text = cb_read_file(mdp, NULL);
	cr_assert(!strstr(text, "## Pictures"), "%s", text);
	free(text);
	cmd = cb_fmt("test -z \"$(ls -A '%s' 2>/dev/null)\"", dir);
	cr_assert(system(cmd) == 0, "--pictures none left files in %s", dir);
	free(cmd);

	cmd = cb_fmt("rm -rf '%s'", wd);
	cr_assert(system(cmd) == 0);
	free(cmd);
	free(wd);
	wd = toy_run(ds, "label");
	spoil_images(ds);
	run(&r, "report", wd);
	cr_assert_eq(r.code, 0, "exit %d\n%s", r.code, r.err);
	cr_assert(!strstr(r.err, "warning"), "%s", r.err);
	pic = cb_fmt("%s/pictures/1-case_002.png", wd);
	p = read_red(pic);
	cr_assert_eq(p.matching, 2 * 2 * 16 * 16, "%zu red pixels", p.matching);
	run_release(&r);

	cmd = cb_fmt("rm -rf '%s' '%s'", wd, ds);
	cr_assert(system(cmd) == 0);
	free(cmd);
	free(ds);
	free(wd);
	ds = toy_dataset("--bad case_002=7", "centre");
	wd = toy_run(ds, "image");
	p = read_red(pic);
	cr_assert_eq(p.matching, 2 * 2 * 16 * 16, "%zu red pixels over the image", p.matching);
	spoil_images(ds);
	run(&r, "report", wd);
	cr_assert_eq(r.code, 0, "a picture that cannot be drawn changed the exit: %d\n%s", r.code,
		     r.err);
	cr_assert(strstr(r.err, "warning: case_002: no picture: ") &&
		  strstr(r.err, "imagesTr/case_002_0000.nii.gz"), "%s", r.err);
	cr_assert(access(pic, F_OK) != 0, "a stale picture was left");
	text = cb_read_file(mdp, NULL);
	cr_assert(strstr(text, "- warning: case_002: no picture: "), "%s", text);
	cr_assert(strstr(text, "culprits_found") || strstr(text, "case_002"), "%s", text);
	free(text);
	run_release(&r);
	free(pic);
	free(mdp);
	free(html);
	free(dir);
	free(wd);
	free(ds);
}

/* Case IDs, paths and trial phases go into the page escaped: an ID that is
 * markup shows as text. */
Test(report_html, text_from_the_run_is_escaped)
{
	char id[] = "<img src=x onerror=alert(1)>&\"'", root[] = "/data/<b>";
	char *ids[] = { id };
	struct jrn_range all = { 0, 0 };
	struct ds_case c = { id, NULL, 0, -1 };
	struct dataset ds;
	struct jrn_entry e;
	struct report_input in;
	size_t culprit = 0;
	char *html;

	memset(&ds, 0, sizeof(ds));
	ds.cases = &c;
	ds.ncases = 1;
	ds.root = root;
	memset(&e, 0, sizeof(e));
	e.trial = 1;
	cb_strlcpy(e.phase, "target", sizeof(e.phase));
	cb_strlcpy(e.outcome, "FAIL", sizeof(e.outcome));
	cb_strlcpy(e.reason, "failure", sizeof(e.reason));
	e.ids = ids;
	e.ranges = &all;
	e.nranges = 1;
	e.ncases = 1;
	e.start = 1000;
	e.duration_s = 2;
	memset(&in, 0, sizeof(in));
	in.workdir = tmpdir;
	in.ds = &ds;
	in.verdict = "culprits_found";
	in.explanation = "fix <this> & that";
	in.culprits = &culprit;
	in.nculprits = 1;
	in.trials = &e;
	in.ntrials = 1;
	html = rhtml_text(&in, NULL);
	cr_assert(!strstr(html, "<img"), "markup from a case ID got in:\n%s", html);
	cr_assert(!strstr(html, "<b>"), "markup from a path got in");
	cr_assert(strstr(html, "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;"), "%s", html);
	cr_assert(strstr(html, "fix &lt;this&gt; &amp; that"));
	cr_assert(strstr(html, "class=\"trial FAIL\""));
	free(html);
}
