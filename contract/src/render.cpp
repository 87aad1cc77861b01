// docs/CONTROL.md's command and error tables, rendered from the registries
// (tests/unit/contract compares them with the file).
#include <string>

#include "wa/contract/commands.hpp"
#include "wa/contract/errors.hpp"

namespace wa::contract {

namespace {

std::string kind_text(const FieldSpec& f) {
  switch (f.kind) {
    case FieldKind::text: return f.max ? "≤ " + std::to_string(f.max) + " bytes" : "string";
    case FieldKind::flag: return "boolean";
    case FieldKind::profile: return "profile name";
    case FieldKind::count: return "whole number ≤ " + std::to_string(f.max);
    case FieldKind::choice: {
      std::string s;
      for (auto c : f.choices) s += (s.empty() ? "`" : " / `") + std::string(c) + "`";
      return s;
    }
    case FieldKind::chat: return "user or group JID";
    case FieldKind::group: return "group JID";
    case FieldKind::person: return "user JID";
    case FieldKind::author: return "user or device JID";
    case FieldKind::people: return "1–" + std::to_string(f.max) + " user JIDs";
    case FieldKind::texts: return "1–" + std::to_string(f.max) + " strings";
    case FieldKind::path: return "absolute path";
    case FieldKind::number: return f.max ? "number within ±" + std::to_string(f.max) : "number";
  }
  return "?";
}

std::string code_text(std::string_view code) {
  return code.ends_with(':') ? "`" + std::string(code) + "<code>`" : "`" + std::string(code) + "`";
}

}  // namespace

std::string render_command_table() {
  std::string out = "| cmd | runs | fields | result | errors (besides the common ones) |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& c : commands()) {
    std::string fields;
    for (const auto& f : c.fields) {
      if (!fields.empty()) fields += ", ";
      fields += "`" + std::string(f.name) + "`" + (f.required ? "" : "?") + " (" + kind_text(f) + ")";
    }
    std::string errors;
    for (auto e : c.errors) errors += (errors.empty() ? "" : ", ") + code_text(e);
    std::string runs = c.runs == Runs::supervisor ? "supervisor"
                       : c.deadline == Deadline::send     ? "account (send)"
                       : c.deadline == Deadline::transfer ? "account (transfer)"
                                                          : "account";
    out += "| `" + std::string(c.name) + "` | " + runs + " | " + (fields.empty() ? "—" : fields) + " | " +
           std::string(c.summary) + ": " + std::string(c.result) + " | " + (errors.empty() ? "—" : errors) + " |\n";
  }
  return out;
}

std::string render_error_table() {
  std::string out = "| code | kind | retry | meaning |\n| --- | --- | --- | --- |\n";
  for (const auto& e : error_codes())
    out += "| " + code_text(e.code) + " | " + std::string(kind_name(e.kind)) + " | " + (e.retryable ? "yes" : "no") +
           " | " + std::string(e.meaning) + " |\n";
  return out;
}

}  // namespace wa::contract
