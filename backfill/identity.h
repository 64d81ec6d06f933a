/* identity.h — the identity domain's operator path: survey, backfill, verify. */
#ifndef CUTOVER_BACKFILL_IDENTITY_H
#define CUTOVER_BACKFILL_IDENTITY_H

#include "cli.h"

int identity_survey(cli_ctx *ctx, const op_opts *o, cJSON *out);
int identity_backfill(cli_ctx *ctx, const op_opts *o, cJSON *out);
int identity_verify(cli_ctx *ctx, const op_opts *o, cJSON *out);

#endif
