"""Step Functions: moto's own interpreter runs the real ASL (turned on in
`__main__`); here only what it gets wrong.

The Scheduler that starts executions when a schedule is due is in
`scheduler`."""

from .patch import patch


def install() -> None:
    """moto 5.2.5's SendTaskFailure drops the `cause`; AWS keeps it."""
    from moto.core.responses import ActionResult, EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self) -> ActionResult:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    patch(StepFunctionResponse, "send_task_failure", send_task_failure, expects="(self)")
