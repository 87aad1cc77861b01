// AB props: <iq xmlns="abt" type="get"><props protocol="1"/></iq>. The only
// prop served is lid_one_on_one_migration_enabled (9435), the account's
// LID-migration flag in LID-first mode: how a companion paired before the
// account migrated (or through a pair-success without client-props) learns
// that its DMs now go to LIDs (docs/PROTOCOL.md §12.1).
#include "server.hpp"
#include "stanza.hpp"

namespace wa::testserver {

using binary::Node;

Node Server::iq_abt(Conn& c, const Node& iq) {
  const Node* props = iq.child("props");
  if (!props) return error_for(iq, 400, "bad-request");
  auto* acc = state_.account(c.addr.phone);
  const bool migrated = state_.policy.lid && acc && acc->lid_migrated;
  Node out("props", {{"protocol", std::string(props->attr_or("protocol", "1"))}, {"ab_key", "local"},
                     {"hash", migrated ? "lid1" : "lid0"}, {"refresh", "86400"}});
  out.content = binary::Children{
      Node("prop", {{"config_code", "9435"}, {"config_value", migrated ? "true" : "false"}})};
  Node r = result_for(iq);
  r.content = binary::Children{std::move(out)};
  return r;
}

}  // namespace wa::testserver
