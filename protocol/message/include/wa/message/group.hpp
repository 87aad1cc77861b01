// Group metadata as far as sending needs it: who the participants are and
// how the group is addressed (section 9).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/result.hpp"

namespace wa::message {

// <iq type="get" xmlns="w:g2" to=GROUP id><query request="interactive"/></iq>
binary::Node build_group_info_query(const binary::Jid& group, std::string_view iq_id);

struct GroupInfo {
  binary::Jid id;
  std::string addressing_mode;  // "lid" | "pn" | "" (not given)
  std::vector<binary::Jid> participants;  // non-AD user jids
};

// Fails "iq_error:<code>" / "bad_group"; participants with invalid jids are
// dropped.
Result<GroupInfo> parse_group_info(const binary::Node& iq);

}  // namespace wa::message
