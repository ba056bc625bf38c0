/* audit_nifti: reading one NIfTI-1 or -2 file, plain or gzip'd, either byte
 * order: its header judged (nothing allocated from what it claims), then
 * its voxels streamed. Private to the audit module (audit*.c); niftilib's
 * and znzlib's types stay behind this header. */
#ifndef CASEBISECT_AUDIT_NIFTI_H
#define CASEBISECT_AUDIT_NIFTI_H

/* znzlib.h's struct znzptr has its gzFile member only under HAVE_ZLIB, and
 * Debian's libznz is built with it: define it so that the layout we see is
 * the library's (we read the gzFile for gzbuffer() and gzerror()). */
#ifndef HAVE_ZLIB
#define HAVE_ZLIB 1
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>
/* uv.h brings <dirent.h>, whose DT_UNKNOWN (a file type) nifti1.h defines
 * again (a datatype); the audit means niftilib's. */
#undef DT_UNKNOWN
#include <nifti2_io.h>

#include "casebisect/audit.h"
#include "casebisect/util.h"

/* A problem with a file: its kind (AUD_K_OPEN, _BAD_HEADER, _TRUNCATED,
 * _CORRUPT) and a message without the file name. */
struct aud_problem {
	enum aud_kind kind;
	char msg[256];
};

/* Fills p (kind, and the message from fmt) and returns -1, so that a
 * reader can `return aud_problem(p, ...)`. */
int aud_problem(struct aud_problem *p, enum aud_kind kind, const char *fmt, ...) CB_PRINTF(3, 4);

/* An open file and how far it has been read. */
struct aud_nfile {
	znzFile fp;
	bool gz;
	int64_t size;      /* on disk */
	uint64_t pos;      /* decoded bytes consumed */
};

/* What a header says, in host order, once judged. */
struct aud_hdr {
	int version;       /* 1 or 2 */
	bool swapped;
	size_t hdr_size;
	int ndim;
	int64_t dim[8];    /* dim[1..7]; 1 beyond ndim */
	double pixdim[4];  /* 1..3, absolute, 1 where unusable */
	int datatype, nbyper;
	int64_t vox_offset;
	bool scaled;
	double slope, inter;
	uint64_t nvox, data_bytes;
	double dir[3][3];  /* unit columns: the direction of each axis */
	char orient[4];    /* "RAS" */
};

static inline uint16_t aud_sw16(uint16_t v, bool s) { return s ? __builtin_bswap16(v) : v; }
static inline uint32_t aud_sw32(uint32_t v, bool s) { return s ? __builtin_bswap32(v) : v; }
static inline uint64_t aud_sw64(uint64_t v, bool s) { return s ? __builtin_bswap64(v) : v; }


/* Opens path into *f (zeroed first, so aud_nf_close() is always safe).
 * stream: the voxels will be read, not only the header (a larger zlib
 * buffer). 0, or -1 with p filled (AUD_K_OPEN). */
int aud_nf_open(struct aud_nfile *f, const char *path, bool stream, struct aud_problem *p);

/* Closes f if it is open. */
void aud_nf_close(struct aud_nfile *f);

/* Reads up to n bytes into buf; *got is what came. A short read at a clean
 * end of file is no error (the caller knows how much it needed). 0, or -1
 * with p filled (open, truncated or corrupt). */
int aud_nf_read(struct aud_nfile *f, void *buf, size_t n, size_t *got, struct aud_problem *p);

/* Reads and judges the header of an open file, leaving the stream just
 * after it. label: the file must hold labels (an integer or float type).
 * 0, or -1 with p filled (bad header, truncated...). */
int aud_hdr_read(struct aud_nfile *f, struct aud_hdr *h, bool label, struct aud_problem *p);

/* Moves the stream to h's vox_offset: seeks a plain file, reads through a
 * gzip one (into buf, of len bytes). 0, or -1 with p filled. */
int aud_nf_skip_to_data(struct aud_nfile *f, const struct aud_hdr *h, unsigned char *buf,
			size_t len, struct aud_problem *p);

/* The label value of the raw bits key (zero-extended) in h's datatype,
 * after scl_slope/scl_inter. */
double aud_key_value(const struct aud_hdr *h, uint64_t key);

/* The raw bits of one 4- or 8-byte voxel at p (nb its size). */
uint64_t aud_load_key(const unsigned char *p, int nb);

/* Swaps nvox voxels of nb bytes each at p to the other byte order. */
void aud_swap_slab(unsigned char *p, size_t nvox, int nb);

/* "64 bytes", "1.5 MiB": b in buf (len bytes), which it returns. */
const char *aud_human_bytes(uint64_t b, char *buf, size_t len);

#endif
