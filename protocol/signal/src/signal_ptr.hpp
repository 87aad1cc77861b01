// Ownership of libsignal-protocol-c objects: reference-counted types are
// released with signal_type_unref, buffers are wiped before being freed
// (they carry keys and plaintexts). Internal to wa_signal.
#pragma once

#include <signal_protocol.h>

#include <memory>

#include "wa/bytes.hpp"

namespace wa::signal::detail {

template <class T>
struct Unref {
  void operator()(T* p) const noexcept { signal_type_unref(reinterpret_cast<signal_type_base*>(p)); }
};
template <class T>
using Ref = std::unique_ptr<T, Unref<T>>;

struct BufferFree {
  void operator()(signal_buffer* b) const noexcept { signal_buffer_bzero_free(b); }
};
using Buffer = std::unique_ptr<signal_buffer, BufferFree>;

inline Bytes to_bytes(const signal_buffer* b) {
  if (!b) return {};
  const uint8_t* p = signal_buffer_const_data(b);
  return Bytes(p, p + signal_buffer_len(b));
}

// Out-parameter adapter: `f(out(ptr))` hands f a T** and adopts the result.
template <class P>
class Out {
 public:
  explicit Out(P& owner) : owner_(owner) {}
  ~Out() { owner_.reset(raw_); }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;
  operator typename P::element_type **() { return &raw_; }  // NOLINT(google-explicit-constructor)

 private:
  P& owner_;
  typename P::element_type* raw_ = nullptr;
};
template <class P>
Out<P> out(P& owner) {
  return Out<P>(owner);
}

}  // namespace wa::signal::detail
