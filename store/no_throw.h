// Store calls never throw (a libmilter callback must not see an exception):
// any exception (std::bad_alloc, ...) becomes Outcome::store_error.
#pragma once

#include <exception>
#include <string>
#include <type_traits>

#include "store/quota_store.h"

namespace quotamilter::store {

template <typename Result>
Result store_failure(std::string error) {
    if constexpr (std::is_same_v<Result, Outcome>) {
        return Outcome::store_error;
    } else {
        Result r;
        r.outcome = Outcome::store_error;
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
    // Even building the message failed (out of memory): a bare store_error.
    if constexpr (std::is_same_v<Result, Outcome>) {
        return Outcome::store_error;
    } else {
        return Result{};  // outcome defaults to store_error
    }
}

}  // namespace quotamilter::store
