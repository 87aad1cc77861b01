#include "wa/crypto/link_code.hpp"

#include <algorithm>

namespace wa::crypto {

Bytes link_code_wrap(std::string_view code, ByteView pub32) {
  Bytes salt = random_bytes(32);
  Bytes iv = random_bytes(16);
  Bytes key = pbkdf2_sha256(as_bytes(code), salt, kLinkCodeIterations, 32);
  auto ct = aes_ctr(key, iv, pub32);
  secure_wipe(key);
  return concat({salt, iv, ct ? ByteView(*ct) : ByteView()});
}

Result<Key32> link_code_unwrap(std::string_view code, ByteView wrapped) {
  if (wrapped.size() != kLinkCodeWrappedSize) return fail("bad_wrapped_key", "wrapped key must be 80 bytes");
  Bytes key = pbkdf2_sha256(as_bytes(code), wrapped.first(32), kLinkCodeIterations, 32);
  auto plain = aes_ctr(key, wrapped.subspan(32, 16), wrapped.subspan(48, 32));
  secure_wipe(key);
  if (!plain || plain->size() != 32) return fail("bad_wrapped_key", "cannot unwrap the key");
  Key32 out{};
  std::copy(plain->begin(), plain->end(), out.begin());
  return out;
}

}  // namespace wa::crypto
