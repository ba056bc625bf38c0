/* test_helpers: the helpers of tests/helpers.h (no tests here). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "casebisect/path.h"
#include "casebisect/util.h"
#include "helpers.h"


const char CLOSED[] = "(closed)";

const char *bin(void)
{
	const char *b = getenv("CASEBISECT_BIN");

	cr_assert(b && *b, "CASEBISECT_BIN is not set (run through `make test`)");
	return b;
}

/* DIR/REL where DIR is the environment variable var; the caller frees it. */
static char *path_in_env_dir(const char *var, const char *rel)
{
	const char *dir = getenv(var);
	size_t n;
	char *path;

	cr_assert(dir && *dir, "%s is not set (run through `make test`)", var);
	n = strlen(dir) + strlen(rel) + 2;
	path = xmalloc(n);
	snprintf(path, n, "%s/%s", dir, rel);
	return path;
}

char *src_file(const char *rel)
{
	return path_in_env_dir("CASEBISECT_SRC", rel);
}

char *corpus_file(const char *name)
{
	char rel[512];

	snprintf(rel, sizeof(rel), "logs/%s", name);
	return path_in_env_dir("CASEBISECT_CORPUS", rel);
}

char *example(const char *name)
{
	char rel[512];

	snprintf(rel, sizeof(rel), "examples/logs/%s", name);
	return src_file(rel);
}

void collect_args(char **argv, const char *first, va_list ap)
{
	int argc = 0;

	argv[argc++] = (char *)first;
	for (;;) {
		char *a = va_arg(ap, char *);

		if (!a)
			break;
		cr_assert(argc <= MAX_ARGS, "too many arguments");
		argv[argc++] = a;
	}
	argv[argc] = NULL;
}

void append(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* In the child: set up fds and exec; never returns. */
static void child(const struct how *how, int in_fd, int out_fd, int err_fd,
		  char **argv)
{
	if (how->cwd && chdir(how->cwd) < 0)
		_exit(126);
	if (dup2(in_fd, 0) < 0 || dup2(err_fd, 2) < 0)
		_exit(126);
	if (how->out_path == CLOSED)
		close(1);
	else if (dup2(out_fd, 1) < 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

/*
 * Runs the binary with the given arguments (NULL-terminated) and fills *r.
 * A crash of the tool fails the test: it is never an expected failure.
 */
/* Every report.json a run of the binary writes is checked against
 * docs/report-schema.json: with $CASEBISECT_TEST_REPORTS set (make test sets
 * it), a copy of each goes there, and tests/validate-reports.py checks them
 * all in one python3 after the suite (one interpreter, not one a run). The
 * work directory is any argument before "--" that holds a report.json
 * written since the run started. */
static void keep_reports(char *const *argv, const char *cwd, const struct timespec *started)
{
	const char *dir = getenv("CASEBISECT_TEST_REPORTS");
	static unsigned kept;
	size_t i;

	if (!dir || !*dir)
		return;
	for (i = 1; argv[i] && strcmp(argv[i], "--"); i++) {
		const char *a = strncmp(argv[i], "--workdir=", 10) ? argv[i] : argv[i] + 10;
		char *wd = a[0] == '/' || !cwd ? xstrdup(a) : cb_path_join(cwd, a);
		char *path = cb_path_join(wd, "report.json");
		struct stat st;
		size_t len;
		char *text;

		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_mtim.tv_sec >= started->tv_sec - 1 && (text = cb_read_file(path, &len))) {
			char *copy = cb_fmt("%s/%ld-%u.json", dir, (long)getpid(), kept++);

			cr_assert(cb_write_atomic(copy, text, len, 0, NULL, 0) == 0,
				  "cannot keep %s as %s", path, copy);
			free(copy);
			free(text);
		}
		free(path);
		free(wd);
	}
}

void run_how(struct run *r, const struct how *how, ...)
{
	char *argv[MAX_ARGS + 2];
	int in[2], out[2], err[2], status, out_fd;
	const char *in_left = how->in;
	size_t in_len = how->in ? strlen(how->in) : 0;
	va_list ap;
	pid_t pid;
	struct timespec started;

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_REALTIME, &started);
	r->out = xcalloc(1, 1);
	r->err = xcalloc(1, 1);
	va_start(ap, how);
	collect_args(argv, bin(), ap);
	va_end(ap);

	signal(SIGPIPE, SIG_IGN);
	cr_assert(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
	if (how->in) {
		cr_assert(pipe2(in, O_CLOEXEC) == 0);
	} else {
		in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		in[1] = -1;
		cr_assert(in[0] >= 0);
	}
	out_fd = out[1];
	if (how->out_path && how->out_path != CLOSED) {
		out_fd = open(how->out_path, O_WRONLY | O_CLOEXEC);
		cr_assert(out_fd >= 0, "cannot open %s", how->out_path);
	}

	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		child(how, in[0], out_fd, err[1], argv);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (out_fd != out[1])
		close(out_fd);
	if (in[1] >= 0 && !in_len) {
		close(in[1]);
		in[1] = -1;
	}

	/* Drain both pipes while feeding stdin, so no side can block. */
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = out[0], .events = POLLIN },
			{ .fd = err[0], .events = POLLIN },
			{ .fd = in[1], .events = POLLOUT },
		};
		char buf[4096];
		int i;

		if (p[0].fd < 0 && p[1].fd < 0 && p[2].fd < 0)
			break;
		if (poll(p, 3, -1) < 0) {
			cr_assert(errno == EINTR);
			continue;
		}
		for (i = 0; i < 2; i++) {
			int *fd = i == 0 ? &out[0] : &err[0];
			ssize_t n;

			if (*fd < 0 || !p[i].revents)
				continue;
			n = read(*fd, buf, sizeof(buf));
			if (n > 0) {
				if (i == 0)
					append(&r->out, &r->out_len, buf, (size_t)n);
				else
					append(&r->err, &r->err_len, buf, (size_t)n);
			} else if (n == 0 || errno != EINTR) {
				close(*fd);
				*fd = -1;
			}
		}
		if (in[1] >= 0 && p[2].revents) {
			ssize_t n = write(in[1], in_left, in_len);

			if (n > 0) {
				in_left += n;
				in_len -= (size_t)n;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 || !in_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
	}
	cr_assert(waitpid(pid, &status, 0) == pid);
	cr_assert(!WIFSIGNALED(status), "casebisect was killed by signal %d; stderr:\n%s",
		  WTERMSIG(status), r->err);
	cr_assert(WIFEXITED(status));
	r->code = WEXITSTATUS(status);
	cr_assert(r->code != 126 && r->code != 127, "could not start %s", argv[0]);
	keep_reports(argv, how->cwd, &started);
}

const struct how plain = { 0 };

void run_release(struct run *r)
{
	free(r->out);
	free(r->err);
}

size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Line i (0-based) of s, without its newline; the caller frees it. */
char *line_at(const char *s, size_t i)
{
	const char *end;
	size_t k;
	char *l;

	for (k = 0; k < i && s; k++)
		s = (s = strchr(s, '\n')) ? s + 1 : NULL;
	cr_assert(s && *s, "no line %zu", i);
	end = strchr(s, '\n');
	if (!end)
		end = s + strlen(s);
	l = xmalloc((size_t)(end - s) + 1);
	memcpy(l, s, (size_t)(end - s));
	l[end - s] = '\0';
	return l;
}

bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A usage error as the user must see it: exit 2, nothing on stdout, one
 * line `casebisect: ...`, then one `hint:` line (each after its time when
 * the run's engine told it: stderr is not a terminal here). */
void assert_usage_error(const struct run *r)
{
	char *err = xstrdup(r->err);

	strip_stamps(err);
	cr_assert_eq(r->code, 2, "exit %d, stderr:\n%s", r->code, r->err);
	cr_assert_eq(r->out_len, 0, "stdout not empty:\n%s", r->out);
	cr_assert_eq(count_lines(err), 2, "stderr is not 2 lines:\n%s", r->err);
	cr_assert(starts_with(err, "casebisect: ") || starts_with(err, "usage: "),
		  "stderr:\n%s", r->err);
	cr_assert(strstr(err, "\nhint: "), "no hint:\n%s", r->err);
	free(err);
}

const char *toy_path(void)
{
	static char *toy;

	if (!toy)
		toy = src_file("harness/toytrain");
	return toy;
}

void strip_stamps(char *text)
{
	char *in = text, *out = text;
	bool line_start = true;

	while (*in) {
		if (line_start && in[0] == '[' && strlen(in) > 11 && in[3] == ':' && in[6] == ':' &&
		    in[9] == ']' && in[10] == ' ')
			in += 11;
		line_start = *in == '\n';
		*out++ = *in++;
	}
	*out = '\0';
}

/*
 * Tests that write get a fresh directory from this fixture, removed after the
 * test even when an assertion failed (Criterion runs .fini then too). Each
 * test runs in its own process, so one static path is enough.
 */
char tmpdir[64];

void tmpdir_setup(void)
{
	cb_strlcpy(tmpdir, "/tmp/casebisect-test-XXXXXX", sizeof(tmpdir));
	cr_assert(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Unmounts what a test mounted under tmpdir (mount_tmpfs()), deepest
 * first: a mount left there would keep its folder, and the mount. */
static void unmount_under_tmpdir(void)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[8192], dev[4096], dir[4096];
	size_t len = strlen(tmpdir);
	bool again = true;

	while (f && again) {
		again = false;
		rewind(f);
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%4095s %4095s", dev, dir) == 2 &&
			    !strncmp(dir, tmpdir, len) && dir[len] == '/' &&
			    umount2(dir, MNT_DETACH) == 0)
				again = true;
	}
	if (f)
		fclose(f);
}

void tmpdir_teardown(void)
{
	if (!tmpdir[0])
		return;
	unmount_under_tmpdir();
	nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int mount_tmpfs(const char *rel, const char *size)
{
	char *dir = at(rel), *opts = cb_fmt("size=%s", size);
	int rc;

	cr_assert(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir, strerror(errno));
	rc = mount("tmpfs", dir, "tmpfs", 0, opts);
	free(opts);
	free(dir);
	return rc;
}

void fill_up(const char *path, size_t leave)
{
	static const char block[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct statvfs st;
	unsigned long long avail, n = 0;

	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	cr_assert(fstatvfs(fd, &st) == 0, "%s: %s", path, strerror(errno));
	avail = (unsigned long long)st.f_bavail * st.f_frsize;
	cr_assert(avail >= leave, "%s: only %llu bytes free", path, avail);
	while (n < avail - leave) {
		size_t want = avail - leave - n < sizeof(block) ? avail - leave - n : sizeof(block);
		ssize_t w = write(fd, block, want);

		if (w <= 0)
			break;
		n += (unsigned long long)w;
	}
	if (!leave)
		cr_assert(write(fd, block, 1) < 0 && errno == ENOSPC, "%s: not full", path);
	close(fd);
}

/* Writes data to dir/name; returns the path, which the caller frees. */
char *write_file(const char *dir, const char *name, const char *data)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = xmalloc(n);
	FILE *f;

	snprintf(path, n, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert(f, "cannot create %s", path);
	cr_assert(fputs(data, f) >= 0 && fclose(f) == 0);
	return path;
}


pid_t spawn_argv(char *const *argv, const char *out_path, const char *err_path)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(err, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int spawn_bg(const char *out_path, const char *err_path, ...)
{
	char *argv[MAX_ARGS + 2];
	va_list ap;

	va_start(ap, err_path);
	collect_args(argv, bin(), ap);
	va_end(ap);
	return spawn_argv(argv, out_path, err_path);
}

int wait_exit(int pid)
{
	int status;

	cr_assert(waitpid(pid, &status, 0) == pid);
	cr_assert(!WIFSIGNALED(status), "casebisect was killed by signal %d", WTERMSIG(status));
	return WEXITSTATUS(status);
}

int process_with_env(const char *kv)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	cr_assert(d);
	while (!found && (e = readdir(d))) {
		char path[300], buf[65536], stat[512], *p;
		ssize_t n;
		int fd;
		size_t i;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		if (n <= 0)
			continue;
		stat[n] = '\0';
		if ((p = strrchr(stat, ')')) && p[2] == 'Z')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/environ", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (i = 0; i < (size_t)n; i += strlen(buf + i) + 1)
			if (!strcmp(buf + i, kv))
				found = atoi(e->d_name);
	}
	closedir(d);
	return found;
}


static char *snap;
static size_t snap_len, snap_skip;

static int snap_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	char line[4096];
	int n;

	(void)flag;
	(void)ftw;
	if (S_ISREG(st->st_mode)) {
		size_t len = 0, i;
		char *data = cb_read_file(path, &len);

		for (i = 0; data && i < len; i++)
			h = (h ^ (unsigned char)data[i]) * 0x100000001b3ULL;
		free(data);
	} else if (S_ISLNK(st->st_mode)) {
		char t[1024];
		ssize_t k = readlink(path, t, sizeof(t));
		ssize_t i;

		for (i = 0; i < k; i++)
			h = (h ^ (unsigned char)t[i]) * 0x100000001b3ULL;
	}
	n = snprintf(line, sizeof(line), "%s %o %lld %lld.%09ld %016llx\n", path + snap_skip,
		     (unsigned)st->st_mode, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
		     st->st_mtim.tv_nsec, (unsigned long long)h);
	append(&snap, &snap_len, line, (size_t)n);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Paths relative to dir and sorted, so a tree compares equal to a copy of
 * itself elsewhere (a bundle before and after it was moved). */
char *tree_snapshot(const char *dir)
{
	char **lines, *p, *out = NULL;
	size_t n = 0, i, len = 0;

	snap = NULL;
	snap_len = 0;
	snap_skip = strlen(dir);
	cr_assert(nftw(dir, snap_entry, 16, FTW_PHYS) == 0, "cannot walk %s", dir);
	lines = xcalloc(snap_len + 1, sizeof(*lines));
	for (p = snap; p && *p; p = strchr(p, '\0') + 1) {
		lines[n++] = p;
		*strchr(p, '\n') = '\0';
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	append(&out, &len, "", 0);
	for (i = 0; i < n; i++) {
		append(&out, &len, lines[i], strlen(lines[i]));
		append(&out, &len, "\n", 1);
	}
	free(lines);
	free(snap);
	snap = NULL;
	return out;
}

char *at(const char *rel)
{
	return cb_path_join(tmpdir, rel);
}

void mkdir_at(const char *rel)
{
	char *p = at(rel);

	cr_assert(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
	free(p);
}

void put(const char *rel, const char *data)
{
	free(write_file(tmpdir, rel, data));
}

const char nnunet_plans_json[] =
	"{\"dataset_name\": \"Dataset501_Liver\", \"plans_name\": \"nnUNetPlans\",\n"
	" \"configurations\": {\n"
	"  \"2d\": {\"data_identifier\": \"nnUNetPlans_2d\", \"batch_size\": 12},\n"
	"  \"3d_fullres\": {\"data_identifier\": \"nnUNetPlans_3d_fullres\", \"batch_size\": 2},\n"
	"  \"3d_cascade_fullres\": {\"inherits_from\": \"3d_fullres\"}}}\n";

void assert_no_children(const char *who)
{
	errno = 0;
	cr_assert(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
		  "%s left a child process behind", who);
}

int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

char *mkcases_in(const char *name, int cases, const char *const *bad)
{
	char *mk = src_file("examples/mkcases"), *dir = at(name);
	char cmd[8192];
	size_t len;

	len = (size_t)snprintf(cmd, sizeof(cmd), "'%s' --cases %d", mk, cases);
	for (; bad && *bad; bad++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " --bad %s", *bad);
	snprintf(cmd + len, sizeof(cmd) - len, " '%s' >/dev/null", dir);
	cr_assert(system(cmd) == 0, "mkcases failed: %s", cmd);
	free(mk);
	return dir;
}

char *dump_value(const char *file, const char *name)
{
	char *text = cb_read_file(file, NULL), *p, *end, *v;
	size_t len = strlen(name);

	cr_assert(text, "cannot read %s", file);
	for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, name, len) && p[len] == '=') {
			end = strchr(p, '\n');
			v = xstrdup(p + len + 1);
			if (end)
				v[end - p - len - 1] = '\0';
			free(text);
			return v;
		}
	free(text);
	return NULL;
}

cJSON *read_json(const char *path)
{
	char *text = cb_read_file(path, NULL);
	cJSON *o;

	cr_assert(text, "cannot read %s", path);
	o = cJSON_Parse(text);
	cr_assert(o, "%s is not JSON:\n%s", path, text);
	free(text);
	return o;
}

void assert_strict_json(const char *path, bool whole)
{
	size_t len, i = 0, n;
	char *text = cb_read_file(path, &len), cmd[8192];

	cr_assert(text, "cannot read %s", path);
	while (i < len) {
		n = cb_utf8_seq_len((const unsigned char *)text + i, len - i);
		cr_assert(n, "%s: byte %zu (0x%02x) is not UTF-8:\n%s", path, i,
			  (unsigned char)text[i], text);
		i += n;
	}
	free(text);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json,sys; t=open(sys.argv[1],encoding=\"utf-8\").read(); "
		 "[json.loads(l) for l in ([t] if sys.argv[2]==\"1\" else t.split(\"\\n\")) if l.strip()]' "
		 "'%s' %d", path, whole);
	cr_assert(system(cmd) == 0, "%s is not strict JSON", path);
}

char *report_culprits(const char *workdir, char *verdict, size_t vsize)
{
	char *path = cb_fmt("%s/report.json", workdir), *out = xstrdup("");
	cJSON *o = read_json(path), *c;

	if (verdict)
		cb_strlcpy(verdict, cJSON_GetStringValue(cJSON_GetObjectItem(o, "verdict")), vsize);
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "culprits"))
	{
		char *next = cb_fmt("%s%s%s", out, *out ? " " : "",
				    cJSON_GetStringValue(cJSON_GetObjectItem(c, "case")));

		free(out);
		out = next;
	}
	cJSON_Delete(o);
	free(path);
	return out;
}

unsigned test_seed(void)
{
	const char *env = getenv("CASEBISECT_TEST_SEED");
	unsigned seed = env && *env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);

	fprintf(stderr, "%s: CASEBISECT_TEST_SEED=%u\n", criterion_current_test->name, seed);
	return seed;
}

void assert_schema_valid(const char *workdir)
{
	char *schema = src_file("docs/report-schema.json"), cmd[8192];

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json,sys,jsonschema; "
		 "jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))' "
		 "'%s' '%s/report.json'", schema, workdir);
	cr_assert(system(cmd) == 0, "report.json does not validate: %s", cmd);
	free(schema);
}

/* Runs bundle/repro.sh from the folder above it with nothing of our
 * environment: env -i, a fresh $HOME, PATH=/usr/bin:/bin. Its output goes
 * to tmpdir/repro.log (returned in *log); returns its exit status. */
int run_repro_as_stranger(const char *bundle, char **log)
{
	char *home = at("home"), *cmd, *parent = path_dir(bundle);
	int st;

	mkdir_at("home");
	*log = at("repro.log");
	cmd = cb_fmt("cd '%s' && env -i HOME='%s' PATH=/usr/bin:/bin bash bundle/repro.sh >'%s' 2>&1",
		     parent, home, *log);
	st = system(cmd);
	cr_assert(WIFEXITED(st), "%s", cmd);
	free(cmd);
	free(parent);
	free(home);
	return WEXITSTATUS(st);
}

/* The class `casebisect classify --json` gives the log (the caller frees it). */
char *class_of(const char *log)
{
	struct run c;
	cJSON *o;
	const cJSON *k;
	char *s;

	run(&c, "classify", "--json", log);
	cr_assert_eq(c.code, 0, "%s", c.err);
	o = cJSON_Parse(c.out);
	cr_assert(o, "%s", c.out);
	k = cJSON_GetObjectItemCaseSensitive(o, "class");
	cr_assert(cJSON_IsString(k), "%s", c.out);
	s = xstrdup(k->valuestring);
	cJSON_Delete(o);
	run_release(&c);
	return s;
}
