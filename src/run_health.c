/* run_health: the devices' and nodes' health during a run (contract in
 * run_health.h): a device whose trial ended the way a sick GPU ends trials
 * is probed before it gets another; a Slurm node whose trials keep failing
 * that way is excluded. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "casebisect/util.h"
#include "run_health.h"

static void say(struct health *h, const char *fmt, ...) CB_PRINTF(2, 3);

static void say(struct health *h, const char *fmt, ...)
{
	va_list ap;
	char *text;

	if (!h->say)
		return;
	va_start(ap, fmt);
	text = cb_vfmt(fmt, ap);
	va_end(ap);
	h->say(h->ctx, text);
	free(text);
}

/* Did this trial end the way a sick device ends trials (a failure other
 * than the target's, of a kind a GPU or its driver causes, or a hang)? */
bool health_infrastructure_failure(const struct sup_result *res)
{
	if (res->outcome != SUP_UNRESOLVED || (res->gpu < 0 && !res->node[0]))
		return false;
	if (res->reason == SUP_R_TIMEOUT || res->reason == SUP_R_STALL)
		return true;
	if (res->reason != SUP_R_OTHER_FAILURE)
		return false;
	switch (res->sig.klass) {
	case CLS_ENV_MISMATCH: case CLS_SEGFAULT: case CLS_HOST_KILL: case CLS_CUDNN_CUBLAS:
	case CLS_NCCL: case CLS_ILLEGAL_ACCESS: case CLS_DEVICE_ASSERT:
		return true;
	default:
		return false;
	}
}

/* A device's health probe, run on libuv's thread pool: gpu_probe() forks
 * and may wait its whole 20 s for a wedged device, and the loop must go on
 * reading the other devices' trials meanwhile (unread, they would end
 * UNRESOLVED, stall). sup_run() returns only once the probe is done. */
struct probe {
	uv_work_t req;
	struct health *h;
	struct gpu_info gpu;        /* a copy: all the pool thread reads */
	int device;
	uint64_t trial;             /* whose failure asked for the probe */
	bool search;                /* a search trial's: schedule() once it passes */
	int rc;                     /* gpu_probe()'s answer */
	char err[512];
	struct probe *next;
};

static void probe_work(uv_work_t *req)
{
	struct probe *p = req->data;

	p->rc = gpu_probe(&p->gpu, p->device, 20000, p->err, sizeof(p->err));
}

/* On the loop: the device goes back into the rotation, or out for good. */
static void probe_done(uv_work_t *req, int status)
{
	struct probe *p = req->data, **pp;
	struct health *h = p->h;
	char line[768];
	size_t left;

	for (pp = &h->probes; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	if (status)
		snprintf(p->err, sizeof(p->err), "device %d: the probe did not run: %s", p->device,
			 uv_strerror(status));
	if (!status && !p->rc) {
		sup_restore_gpu(h->sup, p->device);
		if (p->search && h->back)
			h->back(h->ctx);
		free(p);
		return;
	}
	left = sup_retire_gpu(h->sup, p->device);
	if (p->device >= 0 && p->device < GPU_MAX)
		h->probe_failed[p->device] = true;
	snprintf(line, sizeof(line), " GPU %d was taken out of the rotation after trial %llu: %s.",
		 p->device, (unsigned long long)p->trial, p->err);
	cb_strlcpy(h->retired + strlen(h->retired), line, sizeof(h->retired) - strlen(h->retired));
	say(h, "GPU %d failed its health probe after trial %llu (%s): no more trials there",
	    p->device, (unsigned long long)p->trial, p->err);
	/* A device still being probed may yet come back. */
	if (!left && !h->probes && h->lost) {
		snprintf(line, sizeof(line), "no healthy GPU left: %s", h->retired);
		h->lost(h->ctx, line);
	}
	free(p);
	if (h->changed)
		h->changed(h->ctx);
}

/* After a trial: a device whose trial ended in an infrastructure failure
 * gets no new trial until its health probe has answered (probe_done()),
 * while the other devices go on. */
void health_check_device(struct health *h, const struct gpu_info *gpu, bool search,
			 const struct sup_result *res)
{
	struct probe *p;

	if (h->launcher == SUP_LAUNCH_SLURM || !health_infrastructure_failure(res) || !gpu ||
	    !gpu->available)
		return;
	if (res->gpu >= 0 && res->gpu < GPU_MAX && h->probe_failed[res->gpu])
		return; /* a trial that ran there when it failed its probe */
	for (p = h->probes; p; p = p->next)
		if (p->device == res->gpu)
			return; /* being probed already: one answer does for both trials */
	p = xcalloc(1, sizeof(*p));
	p->h = h;
	p->gpu = *gpu;
	p->device = res->gpu;
	p->trial = res->number;
	p->search = search;
	p->req.data = p;
	p->next = h->probes;
	h->probes = p;
	sup_retire_gpu(h->sup, res->gpu);
	if (uv_queue_work(sup_loop(h->sup), &p->req, probe_work, probe_done)) {
		/* Only a NULL work callback is refused; should it happen, wait. */
		probe_work(&p->req);
		probe_done(&p->req, 0);
	}
}

/* --launcher slurm: a node whose trials keep failing for infrastructure
 * reasons (Slurm says the node failed: at once; a failure of the kind a sick
 * GPU or driver causes, other than the target's: the second time) gets no
 * further trial, and the report says so. */
void health_check_node(struct health *h, const struct sup_result *res)
{
	char line[256];
	unsigned weight = 0;
	size_t i;

	if (h->launcher != SUP_LAUNCH_SLURM || !res->node[0])
		return;
	if (res->reason == SUP_R_SLURM_NODE_FAIL)
		weight = 2;
	else if (res->outcome == SUP_UNRESOLVED && res->reason == SUP_R_OTHER_FAILURE &&
		 health_infrastructure_failure(res))
		weight = 1;
	if (!weight)
		return;
	for (i = 0; i < h->nnode_fail && strcmp(h->node_fail[i].node, res->node); i++)
		;
	if (i == h->nnode_fail) {
		if (i == CB_ARRAY_SIZE(h->node_fail))
			return;
		cb_strlcpy(h->node_fail[i].node, res->node, sizeof(h->node_fail[i].node));
		h->nnode_fail++;
	}
	if (h->node_fail[i].n >= 2)
		return; /* excluded already */
	h->node_fail[i].n += weight;
	if (h->node_fail[i].n < 2)
		return;
	cb_strlcpy(h->excluded, sup_exclude_node(h->sup, res->node), sizeof(h->excluded));
	snprintf(line, sizeof(line), " Node %s was excluded after trial %llu (%s).", res->node,
		 (unsigned long long)res->number, sup_reason_name(res->reason));
	cb_strlcpy(h->retired + strlen(h->retired), line, sizeof(h->retired) - strlen(h->retired));
	say(h, "node %s: trials keep failing there for infrastructure reasons (trial %llu: %s): "
	    "excluded from now on", res->node, (unsigned long long)res->number,
	    sup_reason_name(res->reason));
}

