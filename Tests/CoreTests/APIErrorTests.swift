import Core
import Testing

/// The shared and kernel codes of `APIError` (DESIGN §4), their headers, and which details a client sees.
@Suite struct APIErrorTests {
    @Test(arguments: [
        (APIError.validation(field: "port", "must be 1..65535"), 400, "VALIDATION_ERROR"),
        (.malformedJSON("x"), 400, "MALFORMED_JSON"),
        (.unauthorized, 401, "UNAUTHORIZED"),
        (.forbidden("x"), 403, "FORBIDDEN"),
        (.notFound(), 404, "NOT_FOUND"),
        (.methodNotAllowed(allow: ["GET"]), 405, "METHOD_NOT_ALLOWED"),
        (.payloadTooLarge("x"), 413, "PAYLOAD_TOO_LARGE"),
        (.unsupportedMediaType(), 415, "UNSUPPORTED_MEDIA_TYPE"),
        (.rateLimited(retryAfter: 5), 429, "RATE_LIMITED"),
        (.internalError("x"), 500, "INTERNAL_ERROR"),
        (.unavailable("x"), 503, "UNAVAILABLE"),
        (.notReady("x"), 503, "NOT_READY"),
    ])
    func statusAndCode(_ error: APIError, _ status: Int, _ code: String) {
        #expect(error.status == status)
        #expect(error.code == code)
    }

    @Test func headers() {
        #expect(APIError.unauthorized("x", challenge: "Basic realm=\"gateway\"").headers.map { "\($0.0): \($0.1)" }
            == ["WWW-Authenticate: Basic realm=\"gateway\""])
        #expect(APIError.unauthorized.headers.isEmpty)
        #expect(APIError.rateLimited(retryAfter: 5).headers.map { "\($0.0): \($0.1)" } == ["Retry-After: 5"])
        #expect(APIError.methodNotAllowed(allow: ["GET", "HEAD"]).headers.map { "\($0.0): \($0.1)" } == ["Allow: GET, HEAD"])
    }

    @Test func onlyDeliberateServerErrorsExposeTheirDetail() {
        #expect(APIError.forbidden("x").exposesDetail)
        #expect(!APIError.internalError("x").exposesDetail)
        #expect(!APIError(status: 502, code: "X", detail: "x").exposesDetail)
        #expect(APIError.unavailable("x").exposesDetail)
        #expect(APIError.notReady("x").exposesDetail)
    }
}
