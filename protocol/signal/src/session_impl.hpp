// Shared internals of SignalSession (pairwise + group halves). Internal.
#pragma once

#include <climits>
#include <mutex>
#include <optional>
#include <string>

#include "signal_ptr.hpp"
#include "store_bridge.hpp"
#include "wa/signal/crypto_provider.hpp"
#include "wa/signal/context.hpp"
#include "wa/signal/session.hpp"

namespace wa::signal {

struct SignalSession::Impl {
  store::Store& store;
  std::unique_ptr<SignalContext> ctx;
  std::unique_ptr<detail::StoreBridge> bridge;

  // One Signal operation: serialised in-process on the context's recursive
  // mutex, and across processes by running entirely inside one store
  // transaction (see session.hpp).
  template <class T, class F>
  Result<T> run(store::Durability durability, F&& op) {
    std::lock_guard<std::recursive_mutex> lock(ctx->mutex());
    bridge->begin_operation();
    std::optional<T> result;
    auto body = [&]() -> Status {
      Result<T> r = op();
      if (!r) return Unexpected<Error>{r.error()};
      result.emplace(std::move(r).value());
      return {};
    };
    Status s = signal_transactions_disabled() ? body() : store.transaction(durability, body);
    bridge->end_operation();
    release_crypto_scratch();
    if (!s) return Unexpected<Error>{s.error()};
    return std::move(*result);
  }

  Unexpected<Error> failure(int rc, std::string_view op) const { return {bridge->error_for(rc, op)}; }
};

struct Unit {};

// Addresses point into the caller's std::string: valid for the operation.
inline Result<signal_protocol_address> to_signal_address(const Address& a) {
  if (a.name.empty()) return fail("invalid_argument", "empty address name");
  if (a.device > static_cast<uint32_t>(INT32_MAX)) return fail("invalid_argument", "device id out of range");
  return signal_protocol_address{a.name.c_str(), a.name.size(), static_cast<int32_t>(a.device)};
}

}  // namespace wa::signal
