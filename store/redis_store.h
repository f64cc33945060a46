// The Redis store: one EVALSHA round trip per decision (store/lua/*.lua,
// embedded at build time), counters as small hashes that expire by themselves.
#pragma once

#include <memory>

#include "store/quota_store.h"
#include "store/redis_url.h"

namespace quotamilter::store {

std::unique_ptr<QuotaStore> make_redis_store(const RedisEndpoint& endpoint,
                                             const StoreOptions& options);

}  // namespace quotamilter::store
