// Non-secret random identifiers (client ids, request prefixes) from the
// OS's getrandom(2). Keys use wa::crypto::random_bytes instead.
#pragma once

#include <string>

namespace wa {

std::string random_hex(size_t bytes);

}  // namespace wa
