/* error: the messages and names of casebisect's error codes (error.h). */
#include <errno.h>

#include "casebisect/error.h"

static const char *const messages[] = {
#define CB_XX(name, msg) msg,
	CB_ERRNO_MAP(CB_XX)
#undef CB_XX
};

static const char *const names[] = {
#define CB_XX(name, msg) "E" #name,
	CB_ERRNO_MAP(CB_XX)
#undef CB_XX
};

const char *cb_strerror(int code)
{
	if (code == 0)
		return "success";
	if (code < 0 && -code <= CB_ERR_COUNT)
		return messages[-code - 1];
	return "unknown error";
}

const char *cb_err_name(int code)
{
	if (code == 0)
		return "OK";
	if (code < 0 && -code <= CB_ERR_COUNT)
		return names[-code - 1];
	return "EUNKNOWN";
}

int cb_err_from_errno(int errnum)
{
	if (errnum == ENOSPC || errnum == EDQUOT)
		return CB_ENOSPACE;
	if (errnum == EIO)
		return CB_EIO;
	return CB_EFAIL;
}
