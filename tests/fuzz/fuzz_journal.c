/* fuzz_journal.c — the journal reader (core/journal.c), as `cutover
 * reconcile` and `cutover status` read <dir>/<domain>.journal.
 *
 * The bytes become a journal file in a private directory; then:
 * - co_journal_read succeeds on any bytes (an entry it cannot read is a key
 *   of its own with a reason, never an error and never dropped);
 * - every entry names exactly one key (entry_key in range), the keys'
 *   entry counts add up to the entries, and each key's first entry names it;
 * - a readable key has an entity and a key, a target among json/postgres,
 *   and no two readable keys are the same (entity, key);
 * - co_journal_count (the streaming count `cutover status` prints) agrees
 *   with the snapshot's number of keys;
 * - everything is freed (leak detection is on).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "co.h"
#include "fuzz.h"

static char dir[96];
static char path[160];

static void remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

static void setup_dir(void)
{
	if (dir[0])
		return;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%.40s/cutover-fuzz-journal-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/reports.journal", dir);
	atexit(remove_dir);
}

static void write_journal(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	for (size_t off = 0; off < size;) {
		ssize_t w = write(fd, data + off, size - off);
		if (w < 0 && errno == EINTR)
			continue;
		FUZZ_CHECK(w > 0);
		off += (size_t)w;
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_dir();
	write_journal(data, size);

	co_journal_snapshot snap;
	cutover_error err;
	cutover_error_clear(&err);
	FUZZ_CHECK(co_journal_read(dir, CUTOVER_DOMAIN_REPORTS, false, &snap, &err) == CUTOVER_OK);

	size_t sum = 0;
	for (size_t i = 0; i < snap.n_keys; i++) {
		const co_journal_key *k = &snap.keys[i];
		FUZZ_CHECK(k->entries >= 1);
		FUZZ_CHECK(k->first >= 1 && k->first <= snap.n);
		FUZZ_CHECK(snap.entry_key[k->first - 1] == i);
		sum += k->entries;
		if (!k->entity) {
			FUZZ_CHECK(k->key == NULL && k->why && *k->why);
			FUZZ_CHECK(k->entries == 1);
			continue;
		}
		FUZZ_CHECK(k->key != NULL && k->why == NULL);
		FUZZ_CHECK(k->to_json || k->to_pg);
		for (size_t j = 0; j < i; j++)
			if (snap.keys[j].entity)
				FUZZ_CHECK(strcmp(snap.keys[j].entity, k->entity) != 0 ||
					   strcmp(snap.keys[j].key, k->key) != 0);
	}
	FUZZ_CHECK(sum == snap.n);
	for (size_t i = 0; i < snap.n; i++)
		FUZZ_CHECK(snap.entry_key[i] < snap.n_keys);

	size_t counted = 0;
	FUZZ_CHECK(co_journal_count(dir, CUTOVER_DOMAIN_REPORTS, &counted, &err) == CUTOVER_OK);
	FUZZ_CHECK(counted == snap.n_keys);

	co_journal_snapshot_free(&snap);
	return 0;
}
