/* report_html: WORKDIR/report.html, the run seen at a glance in a browser:
 * when each trial ran where and how it ended, how the suspects shrank, and
 * each culprit's picture (pictures.h). One self-contained file (inline CSS
 * and SVG, no script, nothing fetched) but for the pictures, which it
 * references as pictures/N-CASE.png beside it. */
#ifndef CASEBISECT_REPORT_HTML_H
#define CASEBISECT_REPORT_HTML_H

#include <stddef.h>

struct report_input;
struct pic_set;

/*
 * The page, from what report.md says it from (in: the journal's trials, the
 * verdict, the culprits) and the pictures drawn (pics; may be NULL: none):
 *  - the verdict, the culprits and the explanation;
 *  - <svg id="timeline">: one row per slot (slot, GPU and node as the
 *    journal has them), a bar per trial from its start for its duration_s,
 *    class "trial PASS" / "trial FAIL" / "trial UNRESOLVED" (green, red,
 *    grey), with a <title> naming the trial; x is wall time from the first
 *    trial's start;
 *  - <svg id="shrink">: the cases still suspect after each trial, in the
 *    journal's order, by one rule: every case starts suspect, and a case
 *    stays suspect until a trial that held it passes (a failing trial
 *    clears nothing, as a culprit elsewhere may have caused it); a dashed
 *    line marks the number of culprits found;
 *  - per picture <img class="culprit" id="culprit-N"> with its width and
 *    height, and the pictures' warnings.
 * All text from the run (case IDs, paths, evidence) is HTML-escaped. The
 * caller frees the text.
 */
char *rhtml_text(const struct report_input *in, const struct pic_set *pics);

/* Writes rhtml_text() as WORKDIR/report.html (temporary file, then renamed).
 * Returns 0, or -1 with a message in err naming the file. */
int rhtml_write(const struct report_input *in, const struct pic_set *pics, char *err,
		size_t errlen);

#endif
