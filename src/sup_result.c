/* sup_result: how a trial ended, in words and as JSON (result.json, `trial
 * --json`); see include/casebisect/supervise.h. */
#include <string.h>

#include "casebisect/json.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"

/* ---- names ---- */

static const char *const outcome_names[] = { "PASS", "FAIL", "UNRESOLVED" };
static const char *const reason_names[SUP_R__COUNT] = {
	[SUP_R_EXIT_0] = "exit_0",
	[SUP_R_PASS_MARKER] = "pass_marker",
	[SUP_R_PASS_PATTERN] = "pass_pattern",
	[SUP_R_PASS_AFTER] = "pass_after",
	[SUP_R_FAILURE] = "failure",
	[SUP_R_OTHER_FAILURE] = "other_failure",
	[SUP_R_TIMEOUT] = "timeout",
	[SUP_R_STALL] = "stall",
	[SUP_R_INTERRUPTED] = "interrupted",
	[SUP_R_NOT_FOUND] = "command_not_found",
	[SUP_R_NOT_EXECUTABLE] = "command_not_executable",
	[SUP_R_SPAWN_ERROR] = "spawn_error",
	[SUP_R_SLURM_TIMEOUT] = "slurm_timeout",
	[SUP_R_SLURM_CANCELLED] = "slurm_cancelled",
	[SUP_R_SLURM_NODE_FAIL] = "slurm_node_fail",
	[SUP_R_SLURM_PREEMPTED] = "slurm_preempted",
	[SUP_R_SLURM_OOM] = "slurm_oom",
	[SUP_R_SLURM_ALLOC] = "slurm_alloc_failed",
	[SUP_R_SLURM_CONFIG] = "slurm_config_error",
	[SUP_R_WRITE_ERROR] = "write_error",
	[SUP_R_SKIP] = "skip",
};

const char *sup_outcome_name(enum sup_outcome o)
{
	return (unsigned)o < CB_ARRAY_SIZE(outcome_names) ? outcome_names[o] : "?";
}

const char *sup_reason_name(enum sup_reason r)
{
	return (unsigned)r < SUP_R__COUNT ? reason_names[r] : "?";
}

void sup_result_init(struct sup_result *r, uint64_t number)
{
	memset(r, 0, sizeof(*r));
	r->number = number;
	r->gpu = -1;
	r->slurm_job = -1;
	r->first_failure_s = -1;
}

char *sup_result_json(const struct sup_result *r, bool pretty)
{
	cJSON *o = json_object(), *sig = json_object(), *list;
	char buf[sizeof(r->suspects)], *save = NULL, *tok;

	json_add_num(o, "trial", (double)r->number, true);
	json_add_str(o, "outcome", sup_outcome_name(r->outcome));
	json_add_str(o, "reason", sup_reason_name(r->reason));
	json_add_str(o, "class", cls_class_name(r->sig.klass));
	json_add_signature(sig, &r->sig, CLS_MATCH_KERNEL);
	/* which log the decisive line is in: json_read_signature() reads it back */
	json_add_str(sig, "stream", !r->sig.line ? "" : r->sig.stream == CLS_STDERR ? "stderr" : "stdout");
	cJSON_AddItemToObject(o, "signature", sig);
	json_add_num(o, "exit_code", r->exit_code, !r->signal);
	json_add_num(o, "signal", r->signal, r->signal != 0);
	cJSON_AddBoolToObject(o, "signal_sent_by_us", r->signal_sent_by_us);
	json_add_num(o, "duration_s", r->duration_s, true);
	json_add_num(o, "first_failure_s", r->first_failure_s, r->first_failure_s >= 0);
	list = cJSON_AddArrayToObject(o, "suspects");
	cb_strlcpy(buf, r->suspects, sizeof(buf));
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		cJSON_AddItemToArray(list, json_string(tok));
	json_add_str(o, "stdout_log", r->stdout_log);
	json_add_str(o, "stderr_log", r->stderr_log);
	json_add_num(o, "slot", r->slot, true);
	json_add_num(o, "gpu", r->gpu, r->gpu >= 0);
	json_add_str(o, "node", r->node);
	json_add_num(o, "slurm_job", (double)r->slurm_job, r->slurm_job >= 0);
	json_add_str(o, "slurm_gpus", r->slurm_gpus);
	json_add_num(o, "leftovers_killed", (double)r->leftovers_killed, true);
	json_add_str(o, "error", r->error);
	return json_finish(o, pretty);
}

