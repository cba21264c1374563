// Room files over HTTP (issue 7): not yet. The routes come with the file store.
#include "web/context.hpp"

namespace pchat::web {

bool streams_body(const httplib::Request&) { return false; }

void add_file_routes(httplib::Server&, web_context&) {}

} // namespace pchat::web
