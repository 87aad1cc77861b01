#include "wa/signal/context.hpp"

#include <signal_protocol.h>

#include "wa/log.hpp"
#include "wa/signal/crypto_provider.hpp"

namespace wa::signal {
namespace {

void lock_cb(void* user_data) { static_cast<SignalContext*>(user_data)->mutex().lock(); }
void unlock_cb(void* user_data) { static_cast<SignalContext*>(user_data)->mutex().unlock(); }

// The library's own diagnostics (e.g. "Bad MAC"); they carry no key
// material. Only warnings and errors are worth a line.
void log_cb(int level, const char* message, size_t len, void*) {
  if (level > SG_LOG_WARNING) return;
  int n = len > 512 ? 512 : static_cast<int>(len);
  WA_WARN("libsignal: %.*s", n, message);
}

}  // namespace

Result<std::unique_ptr<SignalContext>> SignalContext::create() {
  auto self = std::make_unique<SignalContext>(Token{});
  if (signal_context_create(&self->ctx_, self.get()) != SG_SUCCESS || !self->ctx_)
    return fail("signal_error", "signal_context_create failed");
  if (signal_context_set_crypto_provider(self->ctx_, &crypto_provider()) != SG_SUCCESS)
    return fail("signal_error", "cannot set the crypto provider");
  if (signal_context_set_locking_functions(self->ctx_, lock_cb, unlock_cb) != SG_SUCCESS)
    return fail("signal_error", "cannot set the locking functions");
  if (signal_context_set_log_function(self->ctx_, log_cb) != SG_SUCCESS)
    return fail("signal_error", "cannot set the log function");
  return self;
}

SignalContext::~SignalContext() {
  if (ctx_) signal_context_destroy(ctx_);
}

}  // namespace wa::signal
