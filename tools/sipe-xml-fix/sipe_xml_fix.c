/* sipe-xml-fix: an LD_PRELOAD shim that lets stock pidgin-sipe 1.25 parse XML again on Debian 12.
 *
 * The problem (docs/pidgin-sipe.md §1): sipe parses every XML body with xmlSAXUserParseMemory() and
 * a handler that says initialized = XML_SAX2_MAGIC but fills in only the SAX1 startElement/endElement callbacks
 * (startElementNs and endElementNs are NULL). bookworm's libxml2 2.9.14+dfsg-1.3~deb12u* then never calls those
 * two callbacks, only `characters`, so every document sipe receives parses to nothing: provisioning is ignored,
 * group chat never starts, and no XCCOS reply is understood.
 *
 * The fix: this library defines xmlSAXUserParseMemory. With LD_PRELOAD it comes first in the global symbol scope,
 * so the dlopen'ed libsipe.so binds to it. For a handler with that exact shape (SAX2 magic, SAX1 element callbacks
 * only) it passes the real libxml2 function a copy marked as a plain SAX1 handler (initialized = 1): the same
 * callbacks, which libxml2 then does call. Every other handler, and every handler when this libxml2 does not have
 * the problem (checked once with a probe document), goes to libxml2 untouched. Nothing else is changed.
 *
 * Use:  LD_PRELOAD=/path/to/libsipe-xml-fix.so finch      (or pidgin)
 * Set SIPE_XML_FIX_DEBUG=1 to have it say on stderr whether it is active.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

typedef int (*parse_memory_fn)(xmlSAXHandlerPtr sax, void* user_data, const char* buffer, int size);

static parse_memory_fn real_parse_memory;
static int fix_needed;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* The handler shape sipe uses: SAX2 magic, but only the SAX1 element callbacks. */
static int sax1_callbacks_behind_sax2_magic(const xmlSAXHandler* sax) {
  return sax && sax->initialized == XML_SAX2_MAGIC && !sax->startElementNs && !sax->endElementNs
         && (sax->startElement || sax->endElement);
}

static void probe_start_element(void* user_data, const xmlChar* name, const xmlChar** attrs) {
  (void) name;
  (void) attrs;
  ++*(int*) user_data;
}

/* ISO C has no cast from dlsym's void* to a function pointer; copy the bits. */
static parse_memory_fn as_parse_memory(void* symbol) {
  parse_memory_fn fn = NULL;
  memcpy(&fn, &symbol, sizeof fn);
  return fn;
}

static void find_libxml2(void) {
  /* libsipe.so asks for xmlSAXUserParseMemory@LIBXML2_2.4.30; take the same version from the next object. */
  real_parse_memory = as_parse_memory(dlvsym(RTLD_NEXT, "xmlSAXUserParseMemory", "LIBXML2_2.4.30"));
  if (!real_parse_memory)
    real_parse_memory = as_parse_memory(dlsym(RTLD_NEXT, "xmlSAXUserParseMemory"));
  if (!real_parse_memory) {
    void* lib = dlopen("libxml2.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (lib)
      real_parse_memory = as_parse_memory(dlsym(lib, "xmlSAXUserParseMemory"));
  }
  if (real_parse_memory) {
    /* Does this libxml2 have the problem? Parse a one-element document with a handler of sipe's shape. */
    xmlSAXHandler probe;
    int started = 0;
    memset(&probe, 0, sizeof probe);
    probe.initialized = XML_SAX2_MAGIC;
    probe.startElement = probe_start_element;
    real_parse_memory(&probe, &started, "<probe/>", 8);
    fix_needed = started == 0;
  }
  if (getenv("SIPE_XML_FIX_DEBUG"))
    fprintf(stderr, "sipe-xml-fix: %s\n",
            !real_parse_memory ? "libxml2's xmlSAXUserParseMemory not found"
            : fix_needed       ? "active (this libxml2 ignores SAX1 callbacks behind SAX2 magic)"
                               : "not needed (this libxml2 calls SAX1 callbacks); passing through");
}

/* For tests and diagnostics: 1 when handlers of sipe's shape are being rewritten. */
__attribute__((visibility("default"))) int sipe_xml_fix_active(void) {
  pthread_once(&init_once, find_libxml2);
  return fix_needed;
}

__attribute__((visibility("default"))) int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void* user_data,
                                                                  const char* buffer, int size) {
  pthread_once(&init_once, find_libxml2);
  if (!real_parse_memory)
    return -1;
  if (fix_needed && sax1_callbacks_behind_sax2_magic(sax)) {
    xmlSAXHandler sax1 = *sax; /* libxml2 only borrows the handler for this call */
    sax1.initialized = 1;
    return real_parse_memory(&sax1, user_data, buffer, size);
  }
  return real_parse_memory(sax, user_data, buffer, size);
}
