/* telemetry.h — the telemetry domain's operator path: survey, backfill, verify. */
#ifndef CUTOVER_BACKFILL_TELEMETRY_H
#define CUTOVER_BACKFILL_TELEMETRY_H

#include "cli.h"

int telemetry_survey(cli_ctx *ctx, const op_opts *o, cJSON *out);
int telemetry_backfill(cli_ctx *ctx, const op_opts *o, cJSON *out);
int telemetry_verify(cli_ctx *ctx, const op_opts *o, cJSON *out);

#endif
