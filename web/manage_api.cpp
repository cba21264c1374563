// The room-management JSON API behind the page (docs/web.md "Room management").
#include "web/context.hpp"

namespace pchat::web {

void add_manage_routes(httplib::Server&, web_context&) {}

} // namespace pchat::web
