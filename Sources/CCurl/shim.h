// libcurl (Debian libcurl4-openssl-dev). curl_easy_setopt and curl_easy_getinfo are variadic, which Swift
// cannot call, so each argument type gets a typed wrapper.
#include <curl/curl.h>

static inline CURLcode easel_curl_set_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode easel_curl_set_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode easel_curl_set_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode easel_curl_set_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }

typedef size_t (*easel_curl_data_fn)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode easel_curl_set_data_fn(CURL *h, CURLoption o, easel_curl_data_fn f) { return curl_easy_setopt(h, o, f); }

static inline CURLcode easel_curl_get_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
