/* sysinfo: the OS, kernel, NVIDIA driver and the trainer's Python, PyTorch
 * and nnU-Net, for the report (include/casebisect/sysinfo.h). */
#include <ctype.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/json.h"
#include "casebisect/path.h"
#include "casebisect/proc_capture.h"
#include "casebisect/sysinfo.h"
#include "casebisect/util.h"

/* What the interpreter is asked. Nothing in it must be installed: a module
 * that is missing prints nothing. PyTorch is imported (its CUDA build is
 * not in its metadata); nnU-Net is not, for the metadata says it all and
 * its import is slow. */
#define SI_PYTHON_CODE                                                                      \
	"import sys, platform\n"                                                            \
	"print('python=' + platform.python_version())\n"                                  \
	"print('executable=' + sys.executable)\n"                                           \
	"try:\n"                                                                            \
	"    from importlib import metadata\n"                                              \
	"except ImportError:\n"                                                             \
	"    metadata = None\n"                                                             \
	"for name in ('torch', 'nnunetv2'):\n"                                              \
	"    try:\n"                                                                        \
	"        print(name + '=' + metadata.version(name))\n"                              \
	"    except Exception:\n"                                                           \
	"        pass\n"                                                                    \
	"try:\n"                                                                            \
	"    import torch\n"                                                                \
	"    print('torch=' + torch.__version__)\n"                                         \
	"    print('torch_cuda=' + (torch.version.cuda or 'none'))\n"                        \
	"except Exception:\n"                                                               \
	"    pass\n"

#define SI_OUT_MAX (16 * 1024)

/* ---- the parsers ---- */

/* The value of KEY=VALUE lines of text, unquoted; "" when absent. */
static void key_value(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key), n;
	const char *p, *v, *end;

	out[0] = '\0';
	for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) || p[klen] != '=')
			continue;
		v = p + klen + 1;
		end = strchr(v, '\n');
		n = end ? (size_t)(end - v) : strlen(v);
		if (n && v[n - 1] == '\r')
			n--;
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v++;
			n -= 2;
		}
		cb_utf8_copy(out, size, v, n);
	}
}

void si_parse_os_release(const char *text, char *out, size_t size)
{
	char name[128], version[64];

	key_value(text, "PRETTY_NAME", out, size);
	if (*out)
		return;
	key_value(text, "NAME", name, sizeof(name));
	key_value(text, "VERSION_ID", version, sizeof(version));
	snprintf(out, size, "%s%s%s", name, *name && *version ? " " : "", version);
}

void si_parse_nvidia_version(const char *text, char *out, size_t size)
{
	const char *p = text, *w;
	size_t n, dots, i;

	out[0] = '\0';
	while (*p) {
		while (*p && isspace((unsigned char)*p))
			p++;
		for (w = p; *p && !isspace((unsigned char)*p); p++)
			;
		n = (size_t)(p - w);
		for (i = 0, dots = 0; i < n && (isdigit((unsigned char)w[i]) || w[i] == '.'); i++)
			dots += w[i] == '.';
		if (n && i == n && dots && isdigit((unsigned char)w[0]) &&
		    isdigit((unsigned char)w[n - 1])) {
			cb_utf8_copy(out, size, w, n);
			return;
		}
	}
}

void si_parse_versions(const char *text, struct si_info *info)
{
	static const struct {
		const char *key;
		size_t off, size;
	} keys[] = {
		{ "python", offsetof(struct si_info, python), sizeof(info->python) },
		{ "executable", offsetof(struct si_info, python_exe), sizeof(info->python_exe) },
		{ "torch", offsetof(struct si_info, torch), sizeof(info->torch) },
		{ "torch_cuda", offsetof(struct si_info, torch_cuda), sizeof(info->torch_cuda) },
		{ "nnunetv2", offsetof(struct si_info, nnunet), sizeof(info->nnunet) },
	};
	char v[1024];
	size_t k;

	for (k = 0; k < CB_ARRAY_SIZE(keys); k++) {
		key_value(text, keys[k].key, v, sizeof(v));
		if (*v)
			cb_strlcpy((char *)info + keys[k].off, v, keys[k].size);
	}
}

/* ---- which Python ---- */

/* name as execvp would find it: relative to cwd with a '/', else on PATH.
 * A malloc'd path, or NULL. */
static char *find_program(const char *name, const char *cwd)
{
	const char *path = getenv("PATH"), *p, *colon;
	char *full;

	if (strchr(name, '/')) {
		full = name[0] == '/' || !cwd ? xstrdup(name) : cb_path_join(cwd, name);
		if (access(full, R_OK) == 0)
			return full;
		free(full);
		return NULL;
	}
	for (p = path ? path : "/usr/local/bin:/usr/bin:/bin"; p; p = colon ? colon + 1 : NULL) {
		colon = strchr(p, ':');
		full = cb_fmt("%.*s/%s", colon ? (int)(colon - p) : (int)strlen(p), p, name);
		if (access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}

static bool is_python(const char *name)
{
	return !strncmp(path_base(name), "python", 6);
}

/* The Python a script's "#!" line names, or NULL. */
static char *python_of_script(const char *script)
{
	char *text = cb_read_file(script, NULL), *line, *nl, *word, *second, *py = NULL;
	const char *q;

	if (!text || strncmp(text, "#!", 2)) {
		free(text);
		return NULL;
	}
	nl = strchr(text, '\n');
	line = cb_fmt("%.*s", nl ? (int)(nl - text - 2) : (int)strlen(text + 2), text + 2);
	word = strtok_r(line, " \t\r", &second);
	if (word && !strcmp(path_base(word), "env"))
		word = strtok_r(NULL, " \t\r", &second);
	if (word && is_python(word))
		py = xstrdup(word);
	else if (word && (!strcmp(path_base(word), "sh") || !strcmp(path_base(word), "bash")) &&
		 (q = strstr(text, "'''exec' '"))) {
		/* pip's trampoline for a path too long for "#!" */
		q += strlen("'''exec' '");
		py = cb_fmt("%.*s", (int)strcspn(q, "'\n"), q);
		if (!is_python(py)) {
			free(py);
			py = NULL;
		}
	}
	free(line);
	free(text);
	return py;
}

char *si_python_of(const char *const *argv, const char *cwd)
{
	const char *a = argv && argv[0] ? argv[0] : "";
	const char *base = path_base(a);
	char *script, *py;

	if (!*a)
		return NULL;
	if (is_python(a))
		return xstrdup(a);
	if (!strcmp(base, "casebisect-nnunet-train"))
		a = "nnUNetv2_train";
	script = find_program(a, cwd);
	py = script ? python_of_script(script) : NULL;
	free(script);
	return py;
}

/* ---- gathering ---- */

static void read_into(const char *path, void (*parse)(const char *, char *, size_t), char *out,
		      size_t size)
{
	char *text = cb_read_file(path, NULL);

	if (text)
		parse(text, out, size);
	free(text);
}

static void ask_python(struct si_info *info, const char *py, const char *cwd, double timeout_s)
{
	const char *argv[] = { py, "-c", SI_PYTHON_CODE, NULL };
	struct proc_capture pc = PROC_CAPTURE_INIT;
	char err[512];

	cb_strlcpy(info->python_exe, py, sizeof(info->python_exe));
	pc.argv = argv;
	pc.cwd = cwd;
	pc.timeout_s = timeout_s;
	pc.max_out = SI_OUT_MAX;
	if (proc_capture_run(&pc, err, sizeof(err)))
		cb_strlcpy(info->note, err, sizeof(info->note));
	else if (pc.status != 0)
		snprintf(info->note, sizeof(info->note), "'%s -c ...' exited with %d", py, pc.status);
	si_parse_versions(pc.out ? pc.out : "", info);
	proc_capture_release(&pc);
}

void si_gather(struct si_info *info, const char *const *argv, const char *cwd, double timeout_s)
{
	struct utsname u;
	char *py;

	memset(info, 0, sizeof(*info));
	read_into("/etc/os-release", si_parse_os_release, info->os, sizeof(info->os));
	if (!*info->os)
		read_into("/usr/lib/os-release", si_parse_os_release, info->os, sizeof(info->os));
	if (uname(&u) == 0)
		snprintf(info->kernel, sizeof(info->kernel), "%s %s %s", u.sysname, u.release,
			 u.machine);
	read_into("/proc/driver/nvidia/version", si_parse_nvidia_version, info->driver,
		  sizeof(info->driver));
	if (!*info->driver)
		read_into("/sys/module/nvidia/version", si_parse_nvidia_version, info->driver,
			  sizeof(info->driver));
	py = si_python_of(argv, cwd);
	if (py)
		ask_python(info, py, cwd, timeout_s);
	free(py);
}

/* ---- JSON ---- */

struct cJSON *si_json(const struct si_info *info)
{
	cJSON *o = json_object(), *py;

	json_add_str(o, "os", info->os);
	json_add_str(o, "kernel", info->kernel);
	json_add_str(o, "nvidia_driver", info->driver);
	if (!*info->python_exe) {
		if (!cJSON_AddNullToObject(o, "python"))
			die("out of memory building JSON");
		return o;
	}
	py = json_object();
	json_add_str(py, "executable", info->python_exe);
	json_add_str(py, "version", info->python);
	json_add_str(py, "torch", info->torch);
	json_add_str(py, "torch_cuda", info->torch_cuda);
	json_add_str(py, "nnunetv2", info->nnunet);
	json_add_str(py, "note", info->note);
	if (!cJSON_AddItemToObject(o, "python", py))
		die("out of memory building JSON");
	return o;
}

int si_read_json(const struct cJSON *obj, struct si_info *info)
{
	const cJSON *py = cJSON_GetObjectItemCaseSensitive(obj, "python");

	memset(info, 0, sizeof(*info));
	if (!cJSON_IsObject(obj))
		return -1;
	json_get_text(obj, "os", info->os, sizeof(info->os));
	json_get_text(obj, "kernel", info->kernel, sizeof(info->kernel));
	json_get_text(obj, "nvidia_driver", info->driver, sizeof(info->driver));
	json_get_text(py, "executable", info->python_exe, sizeof(info->python_exe));
	json_get_text(py, "version", info->python, sizeof(info->python));
	json_get_text(py, "torch", info->torch, sizeof(info->torch));
	json_get_text(py, "torch_cuda", info->torch_cuda, sizeof(info->torch_cuda));
	json_get_text(py, "nnunetv2", info->nnunet, sizeof(info->nnunet));
	json_get_text(py, "note", info->note, sizeof(info->note));
	return 0;
}
