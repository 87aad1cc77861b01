// The wa-probe answer: a Probe as one line of JSON and back. The reader
// treats it as outside bytes (a crashed or hostile decoder may print
// anything): every field is checked, nothing throws.
#include <nlohmann/json.hpp>

#include "wa/bytes.hpp"
#include "wa/media/media.hpp"

namespace wa::media {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxThumbnail = 256 * 1024;
constexpr size_t kMaxWaveform = 256;

std::optional<Bytes> bytes_field(const json& j, const char* key, size_t max) {
  auto it = j.find(key);
  if (it == j.end()) return Bytes{};
  if (!it->is_string() || it->get_ref<const std::string&>().size() > max * 2) return std::nullopt;
  auto b = from_base64(it->get_ref<const std::string&>());
  if (!b || b->size() > max) return std::nullopt;
  return b;
}

template <class T>
bool uint_field(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_number_unsigned() || it->get<uint64_t>() > std::numeric_limits<T>::max()) return false;
  out = static_cast<T>(it->get<uint64_t>());
  return true;
}

}  // namespace

std::string probe_answer(const Result<Probe>& p) {
  if (!p) return json{{"error", {{"code", p.error().code}, {"message", p.error().message}}}}.dump();
  json j{{"mimetype", p->mimetype}, {"kind", std::string(kind_name(p->kind))}, {"width", p->width},
         {"height", p->height},     {"seconds", p->seconds},                      {"pages", p->pages},
         {"animated", p->animated}};
  if (!p->jpeg_thumbnail.empty()) j["jpeg_thumbnail"] = to_base64(p->jpeg_thumbnail);
  if (!p->waveform.empty()) j["waveform"] = to_base64(p->waveform);
  return json{{"probe", j}}.dump();
}

Result<Probe> parse_probe_answer(std::string_view line) {
  json top = json::parse(line, nullptr, false);
  if (top.is_discarded() || !top.is_object()) return fail("unsupported_media", "the probe gave no answer");
  if (auto e = top.find("error"); e != top.end()) {
    if (!e->is_object()) return fail("unsupported_media", "the probe failed");
    std::string code = e->value("code", "unsupported_media");
    if (code != "unsupported_media" && code != "io_error" && code != "file_error") code = "unsupported_media";
    return fail(code, e->value("message", "the probe failed"));
  }
  auto it = top.find("probe");
  if (it == top.end() || !it->is_object()) return fail("unsupported_media", "the probe gave no answer");
  const json& j = *it;
  Probe p;
  if (!j.contains("mimetype") || !j["mimetype"].is_string() || j["mimetype"].get_ref<const std::string&>().size() > 255)
    return fail("unsupported_media", "the probe named no mimetype");
  p.mimetype = j["mimetype"].get<std::string>();
  auto kind = j.contains("kind") && j["kind"].is_string() ? kind_from_name(j["kind"].get<std::string>()) : std::nullopt;
  if (!kind) return fail("unsupported_media", "the probe named no kind");
  p.kind = *kind;
  if (!uint_field(j, "width", p.width) || !uint_field(j, "height", p.height) || !uint_field(j, "seconds", p.seconds) ||
      !uint_field(j, "pages", p.pages))
    return fail("unsupported_media", "the probe's numbers are out of range");
  if (auto a = j.find("animated"); a != j.end() && a->is_boolean()) p.animated = a->get<bool>();
  auto thumb = bytes_field(j, "jpeg_thumbnail", kMaxThumbnail);
  auto wave = bytes_field(j, "waveform", kMaxWaveform);
  if (!thumb || !wave) return fail("unsupported_media", "the probe's thumbnail or waveform is malformed");
  p.jpeg_thumbnail = std::move(*thumb);
  p.waveform = std::move(*wave);
  return p;
}

}  // namespace wa::media
