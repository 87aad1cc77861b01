// The few keys our checks read from a stored session record, taken from its
// serialized form without building the record. Internal.
#pragma once

#include <optional>
#include <vector>

#include "wa/bytes.hpp"

namespace wa::signal::detail {

// Keys in their 33-byte serialized form (0x05 + the point), as the record
// holds them. Empty where the state has none.
struct RecordKeys {
  Bytes current_base;                 // the current state's alice base key
  Bytes remote_identity;              // the current state's remote identity key
  std::vector<Bytes> previous_bases;  // each archived state's alice base key, in record order
};

// nullopt when `record` is not well-formed protobuf of that shape: the caller
// then asks libsignal, whose parse decides (and reports) what is wrong.
std::optional<RecordKeys> read_record_keys(ByteView record) noexcept;

}  // namespace wa::signal::detail
