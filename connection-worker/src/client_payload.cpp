#include "client_payload.hpp"

#include <algorithm>
#include <cctype>

#include "wa/binary/jid.hpp"
#include "wa/proto/client_payload.pb.h"

namespace wa::connection {

namespace pb = wa::proto;

namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

bool is_android(const ClientSettings& s) {
  std::string b = upper(s.browser_name);
  return b.find("ANDROID") != std::string::npos;
}

void fill_common(const ClientSettings& s, pb::ClientPayload& p) {
  p.set_connecttype(pb::ClientPayload::WIFI_UNKNOWN);
  p.set_connectreason(pb::ClientPayload::USER_ACTIVATED);
  auto* ua = p.mutable_useragent();
  ua->set_platform(is_android(s) ? pb::ClientPayload::UserAgent::ANDROID : pb::ClientPayload::UserAgent::WEB);
  auto* v = ua->mutable_appversion();
  v->set_primary(s.version[0]);
  v->set_secondary(s.version[1]);
  v->set_tertiary(s.version[2]);
  ua->set_releasechannel(pb::ClientPayload::UserAgent::RELEASE);
  ua->set_mcc("000");
  ua->set_mnc("000");
  ua->set_osversion("0.1");
  ua->set_device("Desktop");
  ua->set_osbuildnumber("0.1");
  ua->set_localelanguageiso6391("en");
  ua->set_localecountryiso31661alpha2("US");
  if (!is_android(s)) p.mutable_webinfo()->set_websubplatform(pb::ClientPayload::WebInfo::WEB_BROWSER);
  if (!s.push_name.empty()) p.set_pushname(s.push_name);
}

pb::DeviceProps::PlatformType platform_type(const ClientSettings& s) {
  std::string b = upper(s.browser_name);
  if (b == "ANDROID") return pb::DeviceProps::ANDROID_PHONE;
  pb::DeviceProps::PlatformType t;
  if (pb::DeviceProps::PlatformType_Parse(b, &t)) return t;
  return pb::DeviceProps::CHROME;
}

Bytes big_endian(uint32_t v, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

std::string str(ByteView b) { return std::string(as_chars(b)); }

Bytes serialize(const google::protobuf::MessageLite& m) {
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

}  // namespace

std::string companion_platform_id(const ClientSettings& s) {
  if (s.browser_name == "Desktop") return s.browser_os == "Windows" ? "8" : "7";
  static const std::pair<const char*, const char*> known[] = {
      {"Chrome", "1"}, {"Edge", "2"}, {"Firefox", "3"}, {"IE", "4"}, {"Opera", "5"}, {"Safari", "6"}};
  for (const auto& [name, id] : known)
    if (s.browser_name == name) return id;
  return "9";
}

Bytes registration_payload(const ClientSettings& s, const Credentials& c) {
  pb::ClientPayload p;
  fill_common(s, p);
  p.set_passive(false);
  p.set_pull(false);
  pb::DeviceProps props;
  props.set_os(s.browser_os);
  props.set_platformtype(platform_type(s));
  props.set_requirefullsync(false);
  auto* h = props.mutable_historysyncconfig();
  h->set_storagequotamb(10240);
  h->set_inlineinitialpayloadine2eemsg(true);
  h->set_supportgrouphistory(false);
  auto* pv = props.mutable_version();
  pv->set_primary(10);
  pv->set_secondary(15);
  pv->set_tertiary(7);
  std::string dotted = std::to_string(s.version[0]) + "." + std::to_string(s.version[1]) + "." +
                       std::to_string(s.version[2]);
  auto build_hash = crypto::md5(as_bytes(dotted));
  auto* d = p.mutable_devicepairingdata();
  d->set_eregid(str(big_endian(c.registration_id, 4)));
  d->set_ekeytype(std::string(1, '\x05'));
  d->set_eident(str(c.identity.pub));
  d->set_eskeyid(str(big_endian(c.signed_prekey.id, 3)));
  d->set_eskeyval(str(c.signed_prekey.pub));
  d->set_eskeysig(str(c.signed_prekey.signature));
  d->set_buildhash(str(build_hash));
  d->set_deviceprops(props.SerializeAsString());
  return serialize(p);
}

Result<Bytes> login_payload(const ClientSettings& s, const Credentials& c) {
  auto jid = binary::Jid::parse(c.jid);
  if (!jid) return fail("db_corrupt", "stored own JID is malformed: " + jid.error().message);
  uint64_t user = 0;
  if (jid->user.empty() || jid->user.size() > 19) return fail("db_corrupt", "stored own JID has no phone number");
  for (char ch : jid->user) {
    if (ch < '0' || ch > '9') return fail("db_corrupt", "stored own JID has no phone number");
    user = user * 10 + static_cast<uint64_t>(ch - '0');
  }
  pb::ClientPayload p;
  fill_common(s, p);
  p.set_passive(true);
  p.set_pull(true);
  p.set_username(user);
  p.set_device(jid->device);
  p.set_liddbmigrated(false);
  return serialize(p);
}

}  // namespace wa::connection
