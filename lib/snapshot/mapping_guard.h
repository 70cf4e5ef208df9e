// Keeps a snapshot file truncated in place from ending the process.
//
// SQLite reads the snapshot through a shared memory mapping (PRAGMA mmap_size: half the
// CPU of a lookup, against reading pages with pread). The registry installs a new file by
// renaming it over the path, which leaves the mapped file alone; a copy over the path
// (cp, scp: the file is opened with O_TRUNC and written again) shrinks the very file that
// is mapped, and the kernel answers any access to a mapped page past its new end with
// SIGBUS, whose default action ends the daemon (seen under load: exit status 135).
//
// The guard handles SIGBUS for the files it is told to watch: when the faulting address
// lies in a mapping of one of them (found in /proc/self/maps, by device and inode), it
// maps a page of zeros over the faulting page and marks that file damaged; the access is
// then repeated and reads zeros, which SQLite reports as a corrupt page, so the lookup
// fails (no answer) instead of the process. Every other SIGBUS goes to the action that
// was there before (the default; in the daemon, common/fatal_signal.h's handler first).
// The store refuses lookups on a damaged file (SnapshotStore::written_in_place()).
#pragma once

#include <sys/types.h>

namespace whoisd::mapping_guard {

// Watches the file (st_dev, st_ino) until unwatch(); returns its slot, or -1 when all
// slots are taken (that file is then not guarded). Installs the handler on first use.
int watch(dev_t dev, ino_t ino);
void unwatch(int slot);
// Whether a SIGBUS in a mapping of the slot's file was handled since watch().
bool damaged(int slot);

}  // namespace whoisd::mapping_guard
