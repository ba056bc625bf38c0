/* run_health: device probes and node exclusion during a run, for the
 * engine (src/run.c); not an API. */
#ifndef CASEBISECT_RUN_HEALTH_H
#define CASEBISECT_RUN_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "casebisect/gpu.h"
#include "casebisect/supervise.h"

struct probe;

struct health {
	struct sup *sup;            /* the engine's: devices are retired and restored there */
	enum sup_launcher launcher;
	struct probe *probes;       /* health probes running: health_check_device() */
	bool probe_failed[GPU_MAX]; /* by device: out of the rotation for good */
	char retired[1024];         /* devices and nodes taken out, in words, for the verdict */
	char excluded[1024];        /* --launcher slurm: nodes excluded, comma separated */
	struct node_failures {
		char node[64];
		unsigned n;
	} node_fail[64];
	size_t nnode_fail;
	/* the engine's callbacks, each may be NULL */
	void *ctx;
	void (*say)(void *ctx, const char *text);      /* a progress line */
	void (*back)(void *ctx);                       /* a search trial's device passed its probe */
	void (*lost)(void *ctx, const char *why);      /* no healthy GPU left: the run fails */
	void (*changed)(void *ctx);                    /* the status line may have changed */
};

/* Did this trial end the way a sick device ends trials (a failure other
 * than the target's, of a kind a GPU or its driver causes, or a hang)? */
bool health_infrastructure_failure(const struct sup_result *res);

/* After a trial (search: a search trial's): a local device whose trial
 * ended in an infrastructure failure gets no new trial until its health
 * probe, on libuv's thread pool, has answered. gpu: the devices found, or
 * NULL. */
void health_check_device(struct health *h, const struct gpu_info *gpu, bool search,
			 const struct sup_result *res);

/* After a trial, with --launcher slurm: the node is excluded once its
 * trials keep failing for infrastructure reasons. */
void health_check_node(struct health *h, const struct sup_result *res);

#endif
