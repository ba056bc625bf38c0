/* launch: how a trial's command is started and ended, one ops table per
 * launcher (src/launch_local.c, src/launch_slurm.c). The supervisor knows
 * only this table; private to it and the launchers. */
#ifndef CASEBISECT_LAUNCH_H
#define CASEBISECT_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casebisect/supervise.h"

struct uv_loop_s;

/* A trial as its launcher sees it. The supervisor fills everything but
 * state, and keeps it until the trial is finished. */
struct sup_job {
	struct uv_loop_s *loop;    /* the supervisor's */
	void *launcher;            /* the launcher's state (ops->init) */
	uint64_t number;
	struct sup_result *result; /* the launcher fills its fields (node,
				    * slurm_job, ...) and error */
	double give_up_s;          /* ending longer than this: stop waiting for
				    * what the launcher waits for */
	/* The supervisor looks at the ending trial again (ops->done may now
	 * say yes); from the loop, never from inside an op. */
	void (*wake)(struct sup_job *j);
	void *state;               /* the launcher's own, per trial */
};

/* What a line of the trial's output says about its launch (ops->on_line). */
enum sup_job_line {
	SUP_LINE_NONE = 0,  /* nothing */
	SUP_LINE_STARTED,   /* the job runs now: stall and pass_after count from here */
	SUP_LINE_ENDED,     /* the launcher ended it (*reason): the line is the error */
};

/*
 * A launcher. Every trial's process is started by the supervisor, in a
 * session and process group of its own, and ended by signals to what
 * proctree finds of it (supervise.h, steps 1 and 4); a launcher says what
 * is started (spawn_argv) and what more there is to start and end. A NULL
 * hook does nothing (and done says yes).
 */
struct sup_launcher_ops {
	const char *name;             /* as run.json writes it */
	/* Only the process group of what is started is the trial's: the rest
	 * is the launcher's to end (even when casebisect dies). */
	bool group_only;
	/* stall and pass_after count from SUP_LINE_STARTED, not the spawn */
	bool wait_start;
	/* names taken out of the trial's environment; NULL-terminated, may be NULL */
	const char *const *env_drop;

	/* The launcher's state for a supervisor: 0, or -1 with err (bad options). */
	int (*init)(void **state, const struct sup_options *o, char *err, size_t errlen);
	void (*release)(void *state);
	/* What to start for spec (free with sup_argv_free), or NULL: spec->argv.
	 * Sets j->state; its argv[0] names the program in messages. */
	char **(*spawn_argv)(struct sup_job *j, const struct sup_trial_spec *spec);
	/* Reads one line of the trial's output (stdout or stderr). */
	enum sup_job_line (*on_line)(struct sup_job *j, const char *line, size_t len,
				     enum sup_reason *reason);
	/* The trial is ending; alive: its process has not exited. true: the
	 * launcher ends it itself, so no SIGTERM now (SIGKILL after grace all
	 * the same). */
	bool (*end)(struct sup_job *j, bool alive);
	/* May the ending trial finish, as far as the launcher is concerned?
	 * since: seconds since it began to end; spawned: its process started. */
	bool (*done)(struct sup_job *j, bool spawned, double since);
	/* Frees j->state (the trial is finished). */
	void (*release_job)(struct sup_job *j);
	/* No further trial to node; returns every node excluded, comma
	 * separated (owned by state). NULL: the launcher has no nodes. */
	const char *(*exclude)(void *state, const char *node);
};

extern const struct sup_launcher_ops sup_launch_local;
extern const struct sup_launcher_ops sup_launch_slurm;

/* The table of launcher l. */
const struct sup_launcher_ops *sup_launcher_ops(enum sup_launcher l);

#endif
