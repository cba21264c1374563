// The XCCOS decoder (codec/xccos.hpp) on any INFO body, as the session actor runs it on what a client sends:
// parse, salvage_ids (for the error reply to a body that does not parse) and decode_commands. Then what the
// server writes back from what it decoded:
// - the reply to every command is an XCCOS document whose rpl names the command, its seqid and envid again;
// - a post (grpchat) fanned out with serialize_grpchat, or sent by the client library's grpchat_document, decodes
//   to the same room, author and text (the text byte for byte, docs/xccos.md "escaping");
// - a timestamp that parses (any attribute value is tried) is written by format_ts and parses back the same;
// - a file link in the chat text that parses is written by format_file_link and parses back the same;
// - every string of a parsed envelope is text XML can carry (parse refuses a document with a control character,
//   &#1; or invalid UTF-8, as any conforming parser does), so the replies built from it stay well-formed.
#include <cctype>
#include <string>
#include <variant>

#include "base/text.hpp"
#include "codec/xccos.hpp"
#include "codec/xccos_build.hpp"
#include "codec/xccos_commands.hpp"
#include "fuzz/fuzz.hpp"

using namespace pchat;
using namespace pchat::xccos;

namespace {

bool is_plain_token(const std::string& s) {
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

// The one item of a document the server or the client library wrote.
item only_item(const std::string& doc) {
  auto parsed = parse(doc);
  PCHAT_FUZZ_CHECK(std::holds_alternative<envelope>(parsed));
  auto& env = std::get<envelope>(parsed);
  PCHAT_FUZZ_CHECK(env.items.size() == 1);
  return std::move(env.items.front());
}

// Every name, value and text of a parsed item.
void check_xml_text(const node& n) {
  PCHAT_FUZZ_CHECK(is_xml_text(n.name) && is_xml_text(n.text));
  for (const auto& attr : n.attrs)
    PCHAT_FUZZ_CHECK(is_xml_text(attr.first) && is_xml_text(attr.second));
  for (const auto& child : n.children)
    check_xml_text(child);
}

void check_reply(const command& cmd) {
  const auto document = reply_document(cmd, code::bad_request, "BAD_REQUEST");
  PCHAT_FUZZ_CHECK(is_xml_text(document));
  const auto rpl = only_item(document);
  PCHAT_FUZZ_CHECK(rpl.kind == item_kind::rpl);
  PCHAT_FUZZ_CHECK(rpl.id == cmd.reply_id());
  PCHAT_FUZZ_CHECK(rpl.seqid == (cmd.seqid.empty() ? "1" : cmd.seqid));
  PCHAT_FUZZ_CHECK(rpl.cmd_seqid == cmd.seqid && rpl.cmd_envid == cmd.envid);
  PCHAT_FUZZ_CHECK(rpl.code == code::bad_request && rpl.token == "BAD_REQUEST");
}

void check_same_post(const std::string& doc, const grpchat_cmd& post) {
  auto parsed = parse(doc);
  PCHAT_FUZZ_CHECK(std::holds_alternative<envelope>(parsed));
  auto cmds = decode_commands(std::get<envelope>(parsed));
  PCHAT_FUZZ_CHECK(cmds.size() == 1);
  const auto* again = std::get_if<grpchat_cmd>(&cmds.front().data);
  PCHAT_FUZZ_CHECK(again);
  PCHAT_FUZZ_CHECK(again->chan.uri() == post.chan.uri());
  PCHAT_FUZZ_CHECK(again->author == post.author);
  PCHAT_FUZZ_CHECK(again->text == post.text);
}

void check_post(const grpchat_cmd& post) {
  chat_message m{post.chan.uri(), post.author, 17'000'000'000'000'000, post.text, 42};
  check_same_post(serialize_grpchat(next_envid(), m), post);
  check_same_post(grpchat_document("1", post.chan.uri(), post.author, m.ticks, post.text), post);

  if (auto link = parse_file_link(post.text)) {
    auto again = parse_file_link(format_file_link(*link));
    PCHAT_FUZZ_CHECK(again);
    PCHAT_FUZZ_CHECK(again->domain == link->domain && again->room_guid == link->room_guid &&
                     again->file_id == link->file_id && again->name == link->name);
  }
}

void check_timestamp(std::string_view text) {
  auto ticks = parse_ts(text);
  if (!ticks)
    return;
  static const auto last = parse_ts("9999-12-31T23:59:59.9999999Z");
  PCHAT_FUZZ_CHECK(last && *ticks >= 0);
  if (*ticks > *last)
    return; // a leap second or day 31 pushed past 9999, which format_ts (four-digit years) does not write
  PCHAT_FUZZ_CHECK(parse_ts(format_ts(*ticks)) == ticks);
}

template <class F>
void each_attribute(const node& n, F&& f) {
  for (const auto& attr : n.attrs)
    f(attr.second);
  for (const auto& child : n.children)
    each_attribute(child, f);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = fuzz::text_of(data, size);

  auto ids = salvage_ids(body);
  PCHAT_FUZZ_CHECK(is_plain_token(ids.envid) && is_plain_token(ids.seqid) && is_plain_token(ids.id));

  auto parsed = parse(body);
  if (const auto* error = std::get_if<parse_error>(&parsed)) {
    PCHAT_FUZZ_CHECK(error->code == pchat_errc::malformed_xml || error->code == pchat_errc::not_xccos);
    return 0;
  }
  const auto& env = std::get<envelope>(parsed);
  PCHAT_FUZZ_CHECK(!env.items.empty());
  PCHAT_FUZZ_CHECK(is_xml_text(env.envid));
  for (const auto& it : env.items) {
    check_xml_text(it.element);
    each_attribute(it.element, check_timestamp);
  }
  for (const auto& cmd : decode_commands(env)) {
    check_reply(cmd);
    if (const auto* post = std::get_if<grpchat_cmd>(&cmd.data)) {
      check_post(*post);
    } else if (const auto* search = std::get_if<histsrch_cmd>(&cmd.data)) {
      PCHAT_FUZZ_CHECK(search->from_ticks >= 0);
    } else if (const auto* roster = std::get_if<roster_cmd>(&cmd.data)) {
      PCHAT_FUZZ_CHECK(roster->count <= 5000);
    }
  }
  return 0;
}
