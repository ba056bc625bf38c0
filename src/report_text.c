/* report_text: the text kit of the report's renderers (report_facts.h):
 * a growable buffer, and quoting for Markdown and for the shell. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report_facts.h"

void rep_buf_add(struct rep_buf *b, const char *p, size_t n)
{
	if (n > SIZE_MAX / 2 - b->len)
		die("report: text too large");
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void rep_buf_puts(struct rep_buf *b, const char *s)
{
	rep_buf_add(b, s, strlen(s));
}

void rep_buf_printf(struct rep_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cb_vfmt(fmt, ap);
	va_end(ap);
	rep_buf_puts(b, s);
	free(s);
}

/* The text (never NULL); the buffer is left empty. The caller frees it. */
char *rep_buf_take(struct rep_buf *b)
{
	char *s;

	if (!b->s)
		rep_buf_add(b, "", 0);
	s = b->s;
	memset(b, 0, sizeof(*b));
	return s;
}


static size_t longest_backticks(const char *s)
{
	size_t run = 0, best = 0;

	for (; *s; s++) {
		run = *s == '`' ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* s as Markdown shows it verbatim: control bytes as \xNN (tabs and, in a
 * block, newlines kept), and in a table cell '|' escaped, which GitHub
 * requires even inside code. */
void rep_md_verbatim(struct rep_buf *b, const char *s, bool block, bool in_table)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c == '\n' || c == '\t') && block)
			rep_buf_add(b, s, 1);
		else if (c < 0x20 || c == 0x7f)
			rep_buf_printf(b, "\\x%02x", c);
		else if (c == '|' && in_table)
			rep_buf_puts(b, "\\|");
		else
			rep_buf_add(b, s, 1);
	}
}

/* `s`, with a longer run of backticks around it when s holds some. */
void rep_md_code(struct rep_buf *b, const char *s, bool in_table)
{
	size_t n = longest_backticks(s) + 1, i;
	bool pad = n > 1 || *s == '`' || (*s && s[strlen(s) - 1] == '`');

	for (i = 0; i < n; i++)
		rep_buf_puts(b, "`");
	if (pad)
		rep_buf_puts(b, " ");
	rep_md_verbatim(b, s, false, in_table);
	if (pad)
		rep_buf_puts(b, " ");
	for (i = 0; i < n; i++)
		rep_buf_puts(b, "`");
}

/* A fenced code block, its fence longer than any backtick run in text. */
void rep_md_block(struct rep_buf *b, const char *text, const char *lang)
{
	size_t n = longest_backticks(text) + 1, i;

	if (n < 3)
		n = 3;
	for (i = 0; i < n; i++)
		rep_buf_puts(b, "`");
	rep_buf_printf(b, "%s\n", lang);
	rep_md_verbatim(b, text, true, false);
	if (!*text || text[strlen(text) - 1] != '\n')
		rep_buf_puts(b, "\n");
	for (i = 0; i < n; i++)
		rep_buf_puts(b, "`");
	rep_buf_puts(b, "\n\n");
}


const char *rep_plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}


/* An argument as a shell reads it back (cb_sh_word()). */
void rep_sh_word(struct rep_buf *b, const char *s)
{
	char *w = cb_sh_word(s);

	rep_buf_puts(b, w);
	free(w);
}

