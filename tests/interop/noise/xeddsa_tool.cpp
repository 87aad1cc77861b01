// XEdDSA through wa_crypto for the libsignal cross-check script.
//   xeddsa_tool pub <priv hex>                  -> public key hex
//   xeddsa_tool sign <priv hex> <msg hex>       -> signature hex
//   xeddsa_tool verify <pub hex> <msg hex> <sig hex>  -> "valid" | "invalid"
#include <algorithm>
#include <iostream>
#include <string>

#include "wa/crypto/crypto.hpp"

using namespace wa;

namespace {
Bytes hex_arg(const char* s) {
  auto b = from_hex(s);
  if (!b) {
    std::cerr << "bad hex\n";
    std::exit(2);
  }
  return *b;
}
crypto::Key32 key_arg(const char* s) {
  Bytes b = hex_arg(s);
  if (b.size() != 32) {
    std::cerr << "key must be 32 bytes\n";
    std::exit(2);
  }
  crypto::Key32 k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}
}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "pub" && argc == 3) {
    std::cout << to_hex(crypto::keypair_from_private(key_arg(argv[2])).pub) << '\n';
  } else if (cmd == "sign" && argc == 4) {
    std::cout << to_hex(crypto::xeddsa_sign(key_arg(argv[2]), hex_arg(argv[3]))) << '\n';
  } else if (cmd == "verify" && argc == 5) {
    std::cout << (crypto::xeddsa_verify(hex_arg(argv[2]), hex_arg(argv[3]), hex_arg(argv[4])) ? "valid" : "invalid")
              << '\n';
  } else {
    std::cerr << "usage: xeddsa_tool pub|sign|verify ...\n";
    return 2;
  }
  return 0;
}
