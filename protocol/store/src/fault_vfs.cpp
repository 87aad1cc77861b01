#include "fault_vfs.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "wa/log.hpp"

namespace wa::store::fault {
namespace {

constexpr const char* kName = "wa-test-fault";

struct FaultFile {
  sqlite3_file base;
  sqlite3_file* real;
  std::string* trigger;  // null: this file never fails (temp files, shm)
};

sqlite3_vfs g_vfs;
sqlite3_io_methods g_methods[4];  // by the real file's iVersion

FaultFile* ff(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return ff(f)->real; }
bool tripped(sqlite3_file* f) { return ff(f)->trigger && ::access(ff(f)->trigger->c_str(), F_OK) == 0; }

int x_close(sqlite3_file* f) {
  int rc = real(f)->pMethods->xClose(real(f));
  delete ff(f)->trigger;
  ff(f)->trigger = nullptr;
  return rc;
}
int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) { return real(f)->pMethods->xRead(real(f), p, n, off); }
int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  if (tripped(f)) return SQLITE_IOERR_WRITE;
  return real(f)->pMethods->xWrite(real(f), p, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (tripped(f)) return SQLITE_IOERR_TRUNCATE;
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (tripped(f)) return SQLITE_IOERR_FSYNC;
  return real(f)->pMethods->xSync(real(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* out) { return real(f)->pMethods->xFileSize(real(f), out); }
int x_lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) { return real(f)->pMethods->xFileControl(real(f), op, arg); }
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_chars(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** pp) {
  return real(f)->pMethods->xShmMap(real(f), pg, sz, extend, pp);
}
int x_shm_lock(sqlite3_file* f, int off, int n, int flags) { return real(f)->pMethods->xShmLock(real(f), off, n, flags); }
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) { return real(f)->pMethods->xFetch(real(f), off, n, pp); }
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real(f)->pMethods->xUnfetch(real(f), off, p); }

// "<db>-wal" / "<db>-journal" -> "<db>".
std::string database_of(const char* name) {
  std::string s(name);
  for (const char* suffix : {"-wal", "-journal"}) {
    size_t n = std::strlen(suffix);
    if (s.size() > n && s.compare(s.size() - n, n, suffix) == 0) return s.substr(0, s.size() - n);
  }
  return s;
}

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* root = static_cast<sqlite3_vfs*>(vfs->pAppData);
  FaultFile* p = ff(f);
  p->real = reinterpret_cast<sqlite3_file*>(p + 1);
  p->trigger = nullptr;
  int rc = root->xOpen(root, name, p->real, flags, out_flags);
  if (p->real->pMethods == nullptr) {
    p->base.pMethods = nullptr;
    return rc;
  }
  if (name != nullptr && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0)
    p->trigger = new (std::nothrow) std::string(database_of(name) + ".fault-ioerr");
  int v = p->real->pMethods->iVersion;
  p->base.pMethods = &g_methods[v < 0 ? 0 : v > 3 ? 3 : v];
  return rc;
}

const char* install() noexcept {
  const char* v = std::getenv("WA_TEST_FAULT_STORE");
  if (v == nullptr || *v == '\0') return nullptr;
  if (std::strcmp(v, "ioerr") != 0) {
    WA_WARN("WA_TEST_FAULT_STORE=%s ignored (the only value is \"ioerr\")", v);
    return nullptr;
  }
  sqlite3_vfs* root = sqlite3_vfs_find(nullptr);
  if (root == nullptr) return nullptr;
  g_vfs = *root;
  g_vfs.zName = kName;
  g_vfs.pAppData = root;
  g_vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + root->szOsFile;
  g_vfs.xOpen = x_open;
  g_vfs.pNext = nullptr;
  for (int i = 0; i < 4; ++i) {
    sqlite3_io_methods& m = g_methods[i];
    m = sqlite3_io_methods{};
    m.iVersion = i;
    m.xClose = x_close;
    m.xRead = x_read;
    m.xWrite = x_write;
    m.xTruncate = x_truncate;
    m.xSync = x_sync;
    m.xFileSize = x_file_size;
    m.xLock = x_lock;
    m.xUnlock = x_unlock;
    m.xCheckReservedLock = x_check_reserved;
    m.xFileControl = x_file_control;
    m.xSectorSize = x_sector_size;
    m.xDeviceCharacteristics = x_device_chars;
    if (i >= 2) {
      m.xShmMap = x_shm_map;
      m.xShmLock = x_shm_lock;
      m.xShmBarrier = x_shm_barrier;
      m.xShmUnmap = x_shm_unmap;
    }
    if (i >= 3) {
      m.xFetch = x_fetch;
      m.xUnfetch = x_unfetch;
    }
  }
  if (sqlite3_vfs_register(&g_vfs, 0) != SQLITE_OK) return nullptr;
  WA_WARN("WA_TEST_FAULT_STORE=ioerr: database writes fail while <db>.fault-ioerr exists (test only)");
  return kName;
}

}  // namespace

const char* vfs_name() noexcept {
  static const char* name = install();
  return name;
}

}  // namespace wa::store::fault
