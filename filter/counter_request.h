// From the rules' applicable quota to the store's counter: the one mapping of
// rules::CounterName and a tracked value onto store::CounterId, used by the
// session and by `explain` (which prints the Redis key).
#pragma once

#include "rules/evaluate.h"
#include "store/quota_store.h"

#include <cstdint>

namespace quotamilter::filter {

store::CounterId counter_id(const rules::ApplicableQuota& quota);

// The store request of an applicable quota, at `cost`.
store::CounterRequest counter_request(const rules::ApplicableQuota& quota, std::uint64_t cost);

}  // namespace quotamilter::filter
