// RAII owner of a libsignal-protocol-c global context, configured with our
// crypto provider and a recursive lock (the library re-enters its lock).
// The lock covers this process only; cross-process safety comes from the
// store transaction every Signal operation runs in (see session.hpp).
#pragma once

#include <signal_protocol_types.h>

#include <memory>
#include <mutex>

#include "wa/result.hpp"

namespace wa::signal {

class SignalContext {
  struct Token {};

 public:
  explicit SignalContext(Token) {}
  static Result<std::unique_ptr<SignalContext>> create();
  ~SignalContext();
  SignalContext(const SignalContext&) = delete;
  SignalContext& operator=(const SignalContext&) = delete;

  signal_context* raw() const noexcept { return ctx_; }
  std::recursive_mutex& mutex() noexcept { return mutex_; }

 private:
  signal_context* ctx_ = nullptr;
  std::recursive_mutex mutex_;
};

}  // namespace wa::signal
