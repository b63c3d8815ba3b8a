import Core
import Factors
import Testing

/// `FactorError` maps each case to one code and status.
@Suite struct FactorErrorTests {
    @Test(arguments: [
        (FactorError.notFound(id: 3), 404, "FACTOR_NOT_FOUND"),
        (.malformedID("x"), 404, "FACTOR_NOT_FOUND"),
        (.agriIDTaken("d-1-01"), 409, "AGRI_ID_EXISTS"),
        (.moduleNotFound(id: 9), 404, "MODULE_NOT_FOUND"),
        (.malformedModuleID("x"), 404, "MODULE_NOT_FOUND"),
    ])
    func statusAndCode(_ error: FactorError, _ status: Int, _ code: String) {
        #expect(error.status == status)
        #expect(error.code == code)
        #expect(error.exposesDetail)
    }

    @Test func detailsCarryTheirValues() {
        #expect(FactorError.notFound(id: 3).detail == "Factor 3 does not exist on this device")
        #expect(FactorError.agriIDTaken("d-1-01").detail == "agri_id d-1-01 is already used by another factor")
    }
}
