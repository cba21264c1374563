#include "actors/protocol.hpp"

#include <chrono>

namespace pchat {

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

caf::error make_error(pchat_errc x) { return {static_cast<std::uint8_t>(x), pchat_error_category}; }

caf::error make_error(pchat_errc x, std::string detail) {
  return {static_cast<std::uint8_t>(x), pchat_error_category, caf::make_message(std::move(detail))};
}

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<room_view>("pchat::room_view");
  cfg.add_message_type<std::vector<room_view>>("std::vector<pchat::room_view>");
  cfg.add_message_type<participant_view>("pchat::participant_view");
  cfg.add_message_type<join_result>("pchat::join_result");
  cfg.add_message_type<assoc_result>("pchat::assoc_result");
  cfg.add_message_type<room_stats>("pchat::room_stats");
  cfg.add_message_type<storage::message>("pchat::storage::message");
  cfg.add_message_type<std::vector<storage::message>>("std::vector<pchat::storage::message>");
  cfg.add_message_type<resolved_room>("pchat::resolved_room");
  cfg.add_message_type<std::vector<resolved_room>>("std::vector<pchat::resolved_room>");
  cfg.add_message_type<std::vector<dialog_id>>("std::vector<pchat::dialog_id>");
  cfg.add_message_type<invitation_view>("pchat::invitation_view");
  cfg.add_message_type<std::vector<invitation_view>>("std::vector<pchat::invitation_view>");
  cfg.add_message_type<category_view>("pchat::category_view");
  cfg.add_message_type<std::vector<category_view>>("std::vector<pchat::category_view>");
  cfg.add_message_type<principal>("pchat::principal");
  cfg.add_message_type<room_detail>("pchat::room_detail");
  cfg.add_message_type<search_hit>("pchat::search_hit");
  cfg.add_message_type<std::vector<search_hit>>("std::vector<pchat::search_hit>");
  cfg.add_message_type<search_scope>("pchat::search_scope");
  cfg.add_message_type<std::vector<search_scope>>("std::vector<pchat::search_scope>");
  cfg.add_message_type<storage::history_query>("pchat::storage::history_query");
  cfg.add_message_type<patch>("pchat::patch");
  cfg.add_message_type<storage::room>("pchat::storage::room");
  cfg.add_message_type<storage::category>("pchat::storage::category");
  cfg.add_message_type<compliance::event>("pchat::compliance::event");
  cfg.add_message_type<file_ticket>("pchat::file_ticket");
  cfg.add_message_type<file_grant>("pchat::file_grant");
  cfg.add_message_type<compliance_stats>("pchat::compliance_stats");
  cfg.add_error_category(pchat_error_category,
                         [](std::uint8_t code, caf::atom_value, const caf::message& ctx) -> std::string {
                           std::string out = "pchat::";
                           out += to_string(static_cast<pchat_errc>(code));
                           if (!ctx.empty())
                             out += " " + caf::to_string(ctx);
                           return out;
                         });
}

} // namespace pchat
