/* faketrain: a deterministic test double for training processes. The supervisor's tests
 * use it to build hostile process trees (workers that outlive it, a setsid daemon, SIGTERM
 * ignored, stderr floods, crashes by signal); it never stands in for a real trainer.
 * Usage: harness/faketrain --help; harness/README.md has the details. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "casebisect/banned.h"

extern char **environ;

#define FT_MAX_WORKERS 1024
#define FT_MAX_MS (1000ULL * 86400 * 365 * 100) /* a hundred years */
#define FT_CHUNK 4096
#define FT_FLOOD_BUF (64 * 1024)
#define FT_EXIT_USAGE 2
#define FT_EXIT_EPIPE 141 /* what a shell reports for a process killed by SIGPIPE */

static const char usage_text[] =
	"usage: faketrain [OPTION...] [ARG...]\n"
	"A deterministic test double for training processes (supervisor tests only).\n"
	"Steps run in this order: dumps, pidfile main line, workers and daemon, --delay,\n"
	"--batch lines, --stdout-log, --log, --flood, --pass, --sleep, then --hang,\n"
	"--signal or --exit. ARGs are ignored (they appear in --args-dump).\n"
	"\n"
	"  --env-dump FILE     write the environment to FILE, one VAR=value a line\n"
	"  --status-dump FILE  copy SigIgn/SigBlk/SigCgt of /proc/self/status to FILE\n"
	"  --cwd-dump FILE     write the working directory to FILE\n"
	"  --args-dump FILE    write argv[1..] to FILE, one element a line\n"
	"  --pidfile FILE      write 'main PID', 'worker PID', 'daemon PID' lines to FILE\n"
	"  --ignore-term       ignore SIGTERM (main process, workers and daemon)\n"
	"  --workers M         fork M workers in the process group that never exit\n"
	"  --daemon            double-fork a grandchild that calls setsid and never exits\n"
	"  --daemon-clear-env  --daemon, and the grandchild then re-executes faketrain with\n"
	"                      an empty environment (as 'setsid env -i ...' does)\n"
	"  --daemon-workers M  --daemon, and the daemon forks M workers of its own (in its\n"
	"                      new session) that never exit\n"
	"  --delay MS          sleep MS milliseconds before printing anything\n"
	"  --batch \"A B\"       print 'CASEBISECT_BATCH A B' to stdout (repeatable)\n"
	"  --stdout-log FILE   copy FILE to stdout\n"
	"  --log FILE          copy FILE to stderr\n"
	"  --flood BYTES       write exactly BYTES bytes of log noise to stderr (K, M, G)\n"
	"  --pass              print 'CASEBISECT_PASS' to stdout\n"
	"  --sleep MS          sleep MS milliseconds before ending\n"
	"  --hang              never end (sleep until killed)\n"
	"  --exit CODE         exit with CODE, 0-255 (default 0)\n"
	"  --signal SIG        end by signal SIG (SEGV, SIGABRT, 9, ...), without core file\n"
	"  -h, --help          print this help\n"
	"Workers and the daemon keep stdout and stderr open, as DataLoader workers do.\n"
	"Errors in faketrain's own use exit 2.\n";

struct ft_opts {
	const char *env_dump, *status_dump, *cwd_dump, *args_dump, *pidfile;
	const char *log, *stdout_log;
	int log_fd, stdout_log_fd, pid_fd;
	int daemon_fd; /* in the daemon: its end of the pipe to the main process */
	const char **batches;
	size_t nbatch;
	unsigned long long delay_ms, sleep_ms, flood;
	unsigned workers, daemon_workers;
	bool ignore_term, daemon, daemon_clear_env, pass, hang;
	bool exit_set;
	int exit_code;
	int sig;            /* 0: none */
	const char *sig_arg;
};

enum ft_opt_id {
	OPT_ENV_DUMP, OPT_STATUS_DUMP, OPT_CWD_DUMP, OPT_ARGS_DUMP, OPT_PIDFILE,
	OPT_LOG, OPT_STDOUT_LOG, OPT_DELAY, OPT_BATCH, OPT_PASS, OPT_FLOOD,
	OPT_WORKERS, OPT_IGNORE_TERM, OPT_DAEMON, OPT_DAEMON_CLEAR_ENV, OPT_DAEMON_WORKERS, OPT_SLEEP, OPT_HANG, OPT_EXIT,
	OPT_SIGNAL, OPT_HELP,
};

static const struct ft_optdef {
	const char *name;
	bool has_arg;
	enum ft_opt_id id;
} optdefs[] = {
	{ "env-dump", true, OPT_ENV_DUMP },
	{ "status-dump", true, OPT_STATUS_DUMP },
	{ "cwd-dump", true, OPT_CWD_DUMP },
	{ "args-dump", true, OPT_ARGS_DUMP },
	{ "pidfile", true, OPT_PIDFILE },
	{ "log", true, OPT_LOG },
	{ "stdout-log", true, OPT_STDOUT_LOG },
	{ "delay", true, OPT_DELAY },
	{ "batch", true, OPT_BATCH },
	{ "pass", false, OPT_PASS },
	{ "flood", true, OPT_FLOOD },
	{ "workers", true, OPT_WORKERS },
	{ "ignore-term", false, OPT_IGNORE_TERM },
	{ "daemon", false, OPT_DAEMON },
	{ "daemon-clear-env", false, OPT_DAEMON_CLEAR_ENV },
	{ "daemon-workers", true, OPT_DAEMON_WORKERS },
	{ "sleep", true, OPT_SLEEP },
	{ "hang", false, OPT_HANG },
	{ "exit", true, OPT_EXIT },
	{ "signal", true, OPT_SIGNAL },
	{ "help", false, OPT_HELP },
};

/* Signals whose default action ends the process. The others (CHLD, CONT, STOP, TSTP,
 * TTIN, TTOU, URG, WINCH) are named only to refuse them with a clear message. */
static const struct ft_signame {
	const char *name;
	int num;
	bool ends;
} signames[] = {
	{ "HUP", SIGHUP, true }, { "INT", SIGINT, true }, { "QUIT", SIGQUIT, true },
	{ "ILL", SIGILL, true }, { "TRAP", SIGTRAP, true }, { "ABRT", SIGABRT, true },
	{ "IOT", SIGIOT, true }, { "BUS", SIGBUS, true }, { "FPE", SIGFPE, true },
	{ "KILL", SIGKILL, true }, { "USR1", SIGUSR1, true }, { "SEGV", SIGSEGV, true },
	{ "USR2", SIGUSR2, true }, { "PIPE", SIGPIPE, true }, { "ALRM", SIGALRM, true },
	{ "TERM", SIGTERM, true }, { "STKFLT", SIGSTKFLT, true }, { "XCPU", SIGXCPU, true },
	{ "XFSZ", SIGXFSZ, true }, { "VTALRM", SIGVTALRM, true }, { "PROF", SIGPROF, true },
	{ "IO", SIGIO, true }, { "POLL", SIGPOLL, true }, { "PWR", SIGPWR, true },
	{ "SYS", SIGSYS, true },
	{ "CHLD", SIGCHLD, false }, { "CONT", SIGCONT, false }, { "STOP", SIGSTOP, false },
	{ "TSTP", SIGTSTP, false }, { "TTIN", SIGTTIN, false }, { "TTOU", SIGTTOU, false },
	{ "URG", SIGURG, false }, { "WINCH", SIGWINCH, false },
};

static _Noreturn void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("faketrain: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(FT_EXIT_USAGE);
}

/* Write all of buf. A reader that went away ends the process quietly with 141, as a
 * real trainer's death by SIGPIPE would look (we only see EPIPE when SIGPIPE is
 * ignored or blocked; with the default disposition the kernel kills us first). */
static void write_all(int fd, const char *buf, size_t len, const char *what)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				_exit(FT_EXIT_EPIPE);
			usage_error("cannot write to %s: %s", what, strerror(errno));
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void put_line(int fd, const char *prefix, const char *text, const char *what)
{
	size_t plen = strlen(prefix), tlen = text ? strlen(text) : 0;
	size_t len = plen + (tlen ? 1 + tlen : 0) + 1;
	char *line = malloc(len);

	if (!line)
		usage_error("out of memory");
	memcpy(line, prefix, plen);
	if (tlen) {
		line[plen] = ' ';
		memcpy(line + plen + 1, text, tlen);
	}
	line[len - 1] = '\n';
	/* One write per line, so a reader sees each line whole and at once. */
	write_all(fd, line, len, what);
	free(line);
}

static void sleep_ms(unsigned long long ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static _Noreturn void sleep_forever(void)
{
	/* pause() returns only after a handler ran; we install none. */
	for (;;)
		pause();
}

/* Parse a whole decimal number, optionally with a K, M or G (binary) suffix. */
static bool parse_ull(const char *s, bool suffixes, unsigned long long *out)
{
	unsigned long long v = 0, mul = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (ULLONG_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (suffixes && *p) {
		switch (*p) {
		case 'k': case 'K': mul = 1ULL << 10; break;
		case 'm': case 'M': mul = 1ULL << 20; break;
		case 'g': case 'G': mul = 1ULL << 30; break;
		default: return false;
		}
		p++;
	}
	if (*p || v > ULLONG_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

static unsigned long long parse_ms(const char *opt, const char *s)
{
	unsigned long long v;

	if (!parse_ull(s, false, &v) || v > FT_MAX_MS)
		usage_error("--%s '%s': not a number of milliseconds", opt, s);
	return v;
}

static int parse_signal(const char *s)
{
	const char *name = s;
	unsigned long long num;
	size_t i;

	if (parse_ull(s, false, &num)) {
		if (num < 1 || num > (unsigned long long)SIGRTMAX)
			usage_error("--signal '%s': no such signal", s);
		for (i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
			if (signames[i].num == (int)num && !signames[i].ends)
				usage_error("--signal '%s': SIG%s does not end a process",
					    s, signames[i].name);
		return (int)num;
	}
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (i = 0; i < sizeof(signames) / sizeof(signames[0]); i++) {
		if (strcasecmp(name, signames[i].name) != 0)
			continue;
		if (!signames[i].ends)
			usage_error("--signal '%s': SIG%s does not end a process",
				    s, signames[i].name);
		return signames[i].num;
	}
	usage_error("--signal '%s': no such signal", s);
}

static int open_input(const char *opt, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		usage_error("--%s %s: cannot open: %s", opt, path, strerror(errno));
	return fd;
}

static void parse_args(int argc, char **argv, struct ft_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->log_fd = o->stdout_log_fd = o->pid_fd = o->daemon_fd = -1;
	o->batches = calloc((size_t)argc, sizeof(*o->batches));
	if (!o->batches)
		usage_error("out of memory");

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val = NULL;
		const struct ft_optdef *def = NULL;
		size_t nlen, k;
		unsigned long long v;

		if (strcmp(a, "--") == 0)
			break; /* the rest are ARGs */
		if (strcmp(a, "-h") == 0)
			a = "--help";
		if (a[0] != '-' || a[1] == '\0')
			continue; /* an ARG: only --args-dump looks at it */
		if (a[1] != '-')
			usage_error("unknown option '%s' (see --help)", a);
		name = a + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		for (k = 0; k < sizeof(optdefs) / sizeof(optdefs[0]); k++)
			if (strlen(optdefs[k].name) == nlen &&
			    memcmp(optdefs[k].name, name, nlen) == 0)
				def = &optdefs[k];
		if (!def)
			usage_error("unknown option '%s' (see --help)", a);
		if (def->has_arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				usage_error("option '--%s' needs a value", def->name);
		} else if (eq) {
			usage_error("option '--%s' takes no value", def->name);
		}

		switch (def->id) {
		case OPT_ENV_DUMP: o->env_dump = val; break;
		case OPT_STATUS_DUMP: o->status_dump = val; break;
		case OPT_CWD_DUMP: o->cwd_dump = val; break;
		case OPT_ARGS_DUMP: o->args_dump = val; break;
		case OPT_PIDFILE: o->pidfile = val; break;
		case OPT_LOG: o->log = val; break;
		case OPT_STDOUT_LOG: o->stdout_log = val; break;
		case OPT_DELAY: o->delay_ms = parse_ms(def->name, val); break;
		case OPT_SLEEP: o->sleep_ms = parse_ms(def->name, val); break;
		case OPT_BATCH: o->batches[o->nbatch++] = val; break;
		case OPT_PASS: o->pass = true; break;
		case OPT_IGNORE_TERM: o->ignore_term = true; break;
		case OPT_DAEMON: o->daemon = true; break;
		case OPT_DAEMON_CLEAR_ENV: o->daemon = o->daemon_clear_env = true; break;
		case OPT_HANG: o->hang = true; break;
		case OPT_FLOOD:
			if (!parse_ull(val, true, &o->flood))
				usage_error("--flood '%s': not a byte count", val);
			break;
		case OPT_WORKERS:
			if (!parse_ull(val, false, &v) || v > FT_MAX_WORKERS)
				usage_error("--workers '%s': not a number from 0 to %d",
					    val, FT_MAX_WORKERS);
			o->workers = (unsigned)v;
			break;
		case OPT_DAEMON_WORKERS:
			if (!parse_ull(val, false, &v) || v > FT_MAX_WORKERS)
				usage_error("--daemon-workers '%s': not a number from 0 to %d",
					    val, FT_MAX_WORKERS);
			o->daemon = true;
			o->daemon_workers = (unsigned)v;
			break;
		case OPT_EXIT:
			if (!parse_ull(val, false, &v) || v > 255)
				usage_error("--exit '%s': not an exit code from 0 to 255", val);
			o->exit_code = (int)v;
			o->exit_set = true;
			break;
		case OPT_SIGNAL:
			o->sig = parse_signal(val);
			o->sig_arg = val;
			break;
		case OPT_HELP:
			if (fputs(usage_text, stdout) == EOF || fflush(stdout) == EOF)
				usage_error("cannot write to stdout: %s", strerror(errno));
			exit(0);
		}
	}

	if (o->hang && (o->exit_set || o->sig))
		usage_error("--hang cannot be combined with --%s", o->sig ? "signal" : "exit");
	if (o->exit_set && o->sig)
		usage_error("--exit and --signal cannot be combined");
	/* Open the inputs now, so a missing file fails before anything has happened. */
	if (o->log)
		o->log_fd = open_input("log", o->log);
	if (o->stdout_log)
		o->stdout_log_fd = open_input("stdout-log", o->stdout_log);
}

static FILE *dump_open(const char *opt, const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		usage_error("--%s %s: cannot open: %s", opt, path, strerror(errno));
	return f;
}

static void dump_close(const char *opt, const char *path, FILE *f)
{
	bool bad = ferror(f);

	if (fclose(f) == EOF || bad)
		usage_error("--%s %s: cannot write: %s", opt, path, strerror(errno));
}

static void dump_env(const char *path)
{
	FILE *f = dump_open("env-dump", path);
	char **e;

	for (e = environ; e && *e; e++)
		fprintf(f, "%s\n", *e);
	dump_close("env-dump", path, f);
}

static void dump_status(const char *path)
{
	FILE *in = fopen("/proc/self/status", "re"), *out;
	char *line = NULL;
	size_t cap = 0;

	if (!in)
		usage_error("/proc/self/status: cannot open: %s", strerror(errno));
	out = dump_open("status-dump", path);
	while (getline(&line, &cap, in) >= 0)
		if (!strncmp(line, "SigIgn:", 7) || !strncmp(line, "SigBlk:", 7) ||
		    !strncmp(line, "SigCgt:", 7))
			fputs(line, out);
	if (ferror(in))
		usage_error("/proc/self/status: cannot read: %s", strerror(errno));
	free(line);
	fclose(in);
	dump_close("status-dump", path, out);
}

static void dump_cwd(const char *path)
{
	char *cwd = getcwd(NULL, 0);
	FILE *f;

	if (!cwd)
		usage_error("getcwd: %s", strerror(errno));
	f = dump_open("cwd-dump", path);
	fprintf(f, "%s\n", cwd);
	dump_close("cwd-dump", path, f);
	free(cwd);
}

static void dump_args(const char *path, int argc, char **argv)
{
	FILE *f = dump_open("args-dump", path);
	int i;

	for (i = 1; i < argc; i++)
		fprintf(f, "%s\n", argv[i]);
	dump_close("args-dump", path, f);
}

static void pid_line(const struct ft_opts *o, const char *role, pid_t pid)
{
	char buf[64];
	int n;

	if (o->pid_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%s %ld\n", role, (long)pid);
	write_all(o->pid_fd, buf, (size_t)n, o->pidfile);
}

/* Descriptors of ours that a worker or the daemon has no use for. stdin, stdout and
 * stderr stay open on purpose: real DataLoader workers hold the trial's pipes, and the
 * supervisor must cope with a pipe that outlives the main process. */
static void close_own_fds(struct ft_opts *o)
{
	if (o->log_fd >= 0)
		close(o->log_fd);
	if (o->stdout_log_fd >= 0)
		close(o->stdout_log_fd);
	if (o->pid_fd >= 0)
		close(o->pid_fd);
	if (o->daemon_fd >= 0)
		close(o->daemon_fd);
	o->log_fd = o->stdout_log_fd = o->pid_fd = o->daemon_fd = -1;
}

/* n workers, listed in the pidfile as role. */
static void start_workers(struct ft_opts *o, unsigned n, const char *role)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			usage_error("fork: %s", strerror(errno));
		if (pid == 0) {
			close_own_fds(o);
			sleep_forever();
		}
		pid_line(o, role, pid);
	}
}

/* Classic double fork: the intermediate child exits at once, the grandchild calls
 * setsid() and so leaves our process group and session. The grandchild writes its own
 * pidfile line and only then reports through the pipe, so that when we move on its
 * line is in the file and it has already escaped.
 *
 * With --daemon-clear-env the grandchild then execs faketrain --hang with an empty
 * environment: /proc/PID/environ shows what a process was exec'd with, so only an exec
 * drops what the supervisor put there. Its pipe end is close-on-exec: the exec itself
 * reports success (end of file, no byte); a failed exec sends '0'. SIGTERM ignored
 * stays ignored across the exec. */
static void start_daemon(struct ft_opts *o)
{
	int p[2], status;
	pid_t mid, got;
	char c;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		usage_error("pipe: %s", strerror(errno));
	mid = fork();
	if (mid < 0)
		usage_error("fork: %s", strerror(errno));
	if (mid == 0) {
		pid_t pid;

		close(p[0]);
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "faketrain: daemon: fork: %s\n", strerror(errno));
			_exit(FT_EXIT_USAGE);
		}
		if (pid > 0)
			_exit(0);
		if (setsid() < 0) {
			fprintf(stderr, "faketrain: daemon: setsid: %s\n", strerror(errno));
			_exit(FT_EXIT_USAGE);
		}
		pid_line(o, "daemon", getpid());
		o->daemon_fd = p[1]; /* its workers close it, so that an exec ends the pipe */
		start_workers(o, o->daemon_workers, "daemon-worker");
		o->daemon_fd = -1;
		if (o->pid_fd >= 0) {
			/* Same open file description as the parent's, opened O_APPEND. */
			if (fsync(o->pid_fd) < 0 && errno != EINVAL) {
				fprintf(stderr, "faketrain: %s: fsync: %s\n", o->pidfile,
					strerror(errno));
				_exit(FT_EXIT_USAGE);
			}
		}
		close_own_fds(o);
		if (o->daemon_clear_env) {
			char *const args[] = { "faketrain", "--hang", NULL }, *const env[] = { NULL };

			execve("/proc/self/exe", args, env);
			fprintf(stderr, "faketrain: daemon: exec: %s\n", strerror(errno));
			write_all(p[1], "0", 1, "the daemon's pipe");
			_exit(FT_EXIT_USAGE);
		}
		write_all(p[1], "1", 1, "the daemon's pipe");
		close(p[1]);
		sleep_forever();
	}
	close(p[1]);
	while ((got = waitpid(mid, &status, 0)) < 0 && errno == EINTR)
		;
	if (got < 0)
		usage_error("waitpid: %s", strerror(errno));
	while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (n != (o->daemon_clear_env ? 0 : 1) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		usage_error("the daemon did not start");
}

static void copy_fd(int in, int out, const char *inpath, const char *what)
{
	char buf[FT_CHUNK];

	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			usage_error("%s: cannot read: %s", inpath, strerror(errno));
		if (n == 0)
			return;
		write_all(out, buf, (size_t)n, what);
	}
}

/* Right-aligned decimal in exactly width digits, zero-padded. */
static char *put_digits(char *p, unsigned long long v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

static char *put_uint(char *p, unsigned long long v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* One line of nnU-Net-like training noise, at most 96 bytes. Nothing in it may look
 * like a failure to the classifier. */
static char *flood_line(char *p, unsigned long long step, uint64_t *rng)
{
	/* 2024-07-20 23:28:10.494386 plus 1237 us per line. */
	unsigned long long us = (23ULL * 3600 + 28 * 60 + 10) * 1000000ULL + 494386 + step * 1237;
	unsigned long long secs = us / 1000000, day = 20 + (secs / 86400) % 11;

	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	p = put_str(p, "2024-07-");
	p = put_digits(p, day, 2);
	*p++ = ' ';
	p = put_digits(p, secs / 3600 % 24, 2);
	*p++ = ':';
	p = put_digits(p, secs / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, secs % 60, 2);
	*p++ = '.';
	p = put_digits(p, us % 1000000, 6);
	if (step % 250 == 0) {
		p = put_str(p, ": Epoch ");
		p = put_uint(p, step / 250);
		p = put_str(p, " lr 0.00");
		p = put_digits(p, 9999 - (step / 250) % 9000, 4);
	} else {
		p = put_str(p, ": train_loss -0.");
		p = put_digits(p, *rng % 10000, 4);
		p = put_str(p, " step ");
		p = put_uint(p, step);
	}
	*p++ = '\n';
	return p;
}

/* Write exactly `bytes` bytes to stderr; the last line is cut to fit and ends in '\n'. */
static void flood(unsigned long long bytes)
{
	char *buf = malloc(FT_FLOOD_BUF);
	unsigned long long step = 0;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;

	if (!buf)
		usage_error("out of memory");
	while (bytes > 0) {
		char *p = buf;
		size_t len;

		while (p < buf + FT_FLOOD_BUF - 128)
			p = flood_line(p, step++, &rng);
		len = (size_t)(p - buf);
		if (len > bytes) {
			len = (size_t)bytes;
			buf[len - 1] = '\n';
		}
		write_all(STDERR_FILENO, buf, len, "stderr");
		bytes -= len;
	}
	free(buf);
}

/* End by signal sig: default disposition, unblocked, no core file (a test must not
 * leave cores behind; the signal number in the wait status is what matters). */
static _Noreturn void die_by_signal(int sig, const char *arg)
{
	struct sigaction sa;
	struct rlimit rl;
	sigset_t set;

	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		setrlimit(RLIMIT_CORE, &rl);
	}
	if (sig != SIGKILL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		sigaction(sig, &sa, NULL);
	}
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	usage_error("--signal %s: still alive after raising it", arg);
}

int main(int argc, char **argv)
{
	struct ft_opts o;
	size_t i;

	parse_args(argc, argv, &o);

	/* The dumps come first, before --ignore-term, so they show what the supervisor
	 * handed over. */
	if (o.env_dump)
		dump_env(o.env_dump);
	if (o.status_dump)
		dump_status(o.status_dump);
	if (o.cwd_dump)
		dump_cwd(o.cwd_dump);
	if (o.args_dump)
		dump_args(o.args_dump, argc, argv);

	if (o.ignore_term) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGTERM, &sa, NULL) < 0)
			usage_error("sigaction: %s", strerror(errno));
	}

	if (o.pidfile) {
		o.pid_fd = open(o.pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
		if (o.pid_fd < 0)
			usage_error("--pidfile %s: cannot open: %s", o.pidfile, strerror(errno));
		pid_line(&o, "main", getpid());
	}
	start_workers(&o, o.workers, "worker");
	if (o.daemon)
		start_daemon(&o);
	if (o.pid_fd >= 0) {
		if ((fsync(o.pid_fd) < 0 && errno != EINVAL) || close(o.pid_fd) < 0)
			usage_error("--pidfile %s: cannot write: %s", o.pidfile, strerror(errno));
		o.pid_fd = -1;
	}

	if (o.delay_ms)
		sleep_ms(o.delay_ms);
	for (i = 0; i < o.nbatch; i++)
		put_line(STDOUT_FILENO, "CASEBISECT_BATCH", o.batches[i], "stdout");
	if (o.stdout_log_fd >= 0) {
		copy_fd(o.stdout_log_fd, STDOUT_FILENO, o.stdout_log, "stdout");
		close(o.stdout_log_fd);
	}
	if (o.log_fd >= 0) {
		copy_fd(o.log_fd, STDERR_FILENO, o.log, "stderr");
		close(o.log_fd);
	}
	if (o.flood)
		flood(o.flood);
	if (o.pass)
		put_line(STDOUT_FILENO, "CASEBISECT_PASS", NULL, "stdout");
	if (o.sleep_ms)
		sleep_ms(o.sleep_ms);

	free(o.batches);
	if (o.hang)
		sleep_forever();
	if (o.sig)
		die_by_signal(o.sig, o.sig_arg);
	return o.exit_code;
}
