/* reports.h — the reports domain's operator path: survey, backfill, verify. */
#ifndef CUTOVER_BACKFILL_REPORTS_H
#define CUTOVER_BACKFILL_REPORTS_H

#include "cli.h"

int reports_survey(cli_ctx *ctx, const op_opts *o, cJSON *out);
int reports_backfill(cli_ctx *ctx, const op_opts *o, cJSON *out);
int reports_verify(cli_ctx *ctx, const op_opts *o, cJSON *out);

#endif
