#include <sys/random.h>

#include <vector>

#include "wa/bytes.hpp"
#include "wa/crypto_random.hpp"

namespace wa {

std::string random_hex(size_t bytes) {
  std::vector<uint8_t> b(bytes);
  size_t off = 0;
  while (off < b.size()) {
    ssize_t n = ::getrandom(b.data() + off, b.size() - off, 0);
    if (n > 0) off += static_cast<size_t>(n);
  }
  return to_hex(b);
}

}  // namespace wa
