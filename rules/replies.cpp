// Default replies (rules/replies.h).
#include "rules/replies.h"

namespace quotamilter::rules {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char verdict_class(Verdict verdict) { return verdict == Verdict::reject ? '5' : '4'; }

}  // namespace

ReplyCodes default_reply_codes(Verdict verdict) {
    if (verdict == Verdict::reject) return {"550", "5.7.1"};
    return {"451", "4.7.1"};
}

bool code_fits_verdict(std::string_view code, Verdict verdict) {
    return code.size() == 3 && code[0] == verdict_class(verdict) && is_digit(code[1]) && is_digit(code[2]);
}

// "4.7.1": class.subject.detail, subject and detail of 1 to 3 digits.
bool xcode_fits_verdict(std::string_view xcode, Verdict verdict) {
    if (xcode.size() < 5 || xcode[0] != verdict_class(verdict) || xcode[1] != '.') return false;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        std::size_t digits = 0;
        while (i < xcode.size() && is_digit(xcode[i])) ++i, ++digits;
        if (digits < 1 || digits > 3) return false;
        if (part == 0) {
            if (i >= xcode.size() || xcode[i] != '.') return false;
            ++i;
        }
    }
    return i == xcode.size();
}

std::string_view default_reply_text(Verdict verdict, bool quota_refusal, bool fits_later) {
    if (quota_refusal) {
        return fits_later ? "Sending quota exceeded (policy {policy}: {limit} {unit} per {window}), try again in {retry_after}"
                          : "Message exceeds the sending quota (policy {policy}: {limit} {unit} per {window})";
    }
    return verdict == Verdict::reject ? "Message refused by policy {policy}"
                                      : "Message deferred by policy {policy}, try again later";
}

}  // namespace quotamilter::rules
