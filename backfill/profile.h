/* profile.h — the profile domain's operator path: survey, backfill, verify. */
#ifndef CUTOVER_BACKFILL_PROFILE_H
#define CUTOVER_BACKFILL_PROFILE_H

#include "cli.h"

int profile_survey(cli_ctx *ctx, const op_opts *o, cJSON *out);
int profile_backfill(cli_ctx *ctx, const op_opts *o, cJSON *out);
int profile_verify(cli_ctx *ctx, const op_opts *o, cJSON *out);

#endif
