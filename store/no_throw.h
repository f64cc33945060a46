// Store calls never throw (a libmilter callback must not see an exception):
// any exception (std::bad_alloc, ...) becomes a failure of the call's own
// kind: Outcome::store_error for a Decision, AdminStatus::store_error for a
// StatusResult or ResetResult, false for a bool.
#pragma once

#include <exception>
#include <string>
#include <type_traits>

#include "store/counter_admin.h"
#include "store/quota_store.h"

namespace quotamilter::store {

template <typename Result>
Result store_failure(std::string error) {
    if constexpr (std::is_same_v<Result, bool>) {
        return false;
    } else {
        Result r;  // outcome / status default to store_error
        r.error = std::move(error);
        return r;
    }
}

template <typename Result, typename Body>
Result no_throw(Body&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        try {
            return store_failure<Result>(std::string("store: ") + e.what());
        } catch (...) {
        }
    } catch (...) {
    }
    // Even building the message failed (out of memory): a bare failure.
    return Result{};  // false, or outcome / status store_error
}

}  // namespace quotamilter::store
