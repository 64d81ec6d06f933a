/* cutover.h — the one header an app includes.
 *
 * libcutover moves a product's state off JSON documents in object storage
 * and onto Postgres, one domain at a time, behind one repository interface
 * per domain. See cutover/open.h for the front door.
 */
#ifndef CUTOVER_H
#define CUTOVER_H

#include "cutover/error.h"
#include "cutover/stage.h"
#include "cutover/types.h"
#include "cutover/identity.h"
#include "cutover/profile.h"
#include "cutover/reports.h"
#include "cutover/telemetry.h"
#include "cutover/open.h"

#endif
