// libsignal-protocol-c's store callbacks (session, prekey, signed prekey,
// identity, sender key) implemented on wa::store::Store. Internal.
#pragma once

#include <signal_protocol.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "wa/bytes.hpp"
#include "wa/result.hpp"
#include "wa/signal/context.hpp"
#include "wa/store/store.hpp"

namespace wa::signal::detail {

class StoreBridge {
  struct Token {};

 public:
  StoreBridge(Token, store::Store& store, SignalContext& ctx) : store_(store), ctx_(ctx) {}
  static Result<std::unique_ptr<StoreBridge>> create(store::Store& store, SignalContext& ctx);
  ~StoreBridge();
  StoreBridge(const StoreBridge&) = delete;
  StoreBridge& operator=(const StoreBridge&) = delete;

  signal_protocol_store_context* raw() const noexcept { return store_ctx_; }
  store::Store& store() noexcept { return store_; }
  signal_context* ctx() const noexcept { return ctx_.raw(); }

  // Per-operation diagnostics the library cannot carry through its int
  // return codes: cleared before each operation, read when one fails.
  void begin_operation() noexcept {
    store_error_.reset();
    identity_changed_ = false;
    forget_operation();
  }
  void end_operation() noexcept { forget_operation(); }

  // The identity this operation found stored and equal (is_trusted): a
  // pkmsg decrypt checks it, then saves it, and the save of an identity
  // already stored is a no-op, so it needs no second look at the store.
  bool known_trusted(const store::Address& a, ByteView key) const noexcept {
    return trusted_ && trusted_->first == a && trusted_->second.size() == key.size() &&
           std::equal(key.begin(), key.end(), trusted_->second.begin());
  }
  void note_trusted(const store::Address& a, ByteView key) { trusted_.emplace(a, Bytes(key.begin(), key.end())); }

  // The session record last read or written in this operation. A decrypt
  // reads its record twice (our look at its states, then the library's
  // own); while an operation runs nothing else writes sessions (the
  // context's mutex in this process, the store transaction across
  // processes), so the second read is this copy instead of a query.
  const std::optional<Bytes>* cached_session(const store::Address& a) const noexcept {
    return session_cache_ && session_cache_->addr == a ? &session_cache_->record : nullptr;
  }
  // The stored record of `a` (nullopt: none), through the same copy.
  Result<const std::optional<Bytes>*> session_record(const store::Address& a) {
    if (const auto* cached = cached_session(a)) return cached;
    auto r = store_.load_session(a);
    if (!r) {
      note_store_error(r.error());
      return Unexpected<Error>{r.error()};
    }
    cache_session(a, std::move(*r));
    return &session_cache_->record;
  }
  void cache_session(const store::Address& a, std::optional<Bytes> record) {
    forget_session();
    session_cache_.emplace(CachedSession{a, std::move(record)});
  }
  void forget_session() noexcept {
    if (session_cache_ && session_cache_->record) secure_wipe(*session_cache_->record);
    session_cache_.reset();
  }
  void note_store_error(Error e) {
    if (!store_error_) store_error_ = std::move(e);
  }
  void note_identity_changed() noexcept { identity_changed_ = true; }
  // The error for a failed libsignal call: identity change first, then a
  // store failure, else the library's own code.
  Error error_for(int rc, std::string_view op) const;

 private:
  store::Store& store_;
  SignalContext& ctx_;
  signal_protocol_store_context* store_ctx_ = nullptr;
  std::optional<Error> store_error_;
  bool identity_changed_ = false;
  struct CachedSession {
    store::Address addr;
    std::optional<Bytes> record;  // nullopt: known to have none
  };
  std::optional<CachedSession> session_cache_;
  std::optional<std::pair<store::Address, Bytes>> trusted_;

  // What one operation may remember (its session record, an identity it
  // found trusted) ends with it.
  void forget_operation() noexcept {
    forget_session();
    trusted_.reset();
  }
};

// Stable error codes for libsignal's SG_ERR_* values.
Error sg_error(int rc, std::string_view op);

}  // namespace wa::signal::detail
