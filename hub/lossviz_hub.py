"""What the class's hub adds to each student's Jupyter server: a limit on running kernels.

On a shared server every kernel holds a libtorch and a compiler's worth of memory, so
`./kernel-setup.sh hub --kernels-per-student N` caps how many one student may run at once.
The student who asks for one more is told how to free one, in JupyterLab's error dialog.
"""
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Integer


class LimitedKernelManager(AsyncMappingKernelManager):
    max_kernels = Integer(2, config=True, help="How many kernels one student may run at once.")
    _starting = 0

    async def start_kernel(self, *args, kernel_id=None, **kwargs):
        # A kernel_id means restarting or reconnecting to a kernel already counted. Kernels
        # still starting count too (an evcxr kernel takes seconds to be listed), so opening
        # several notebooks at once cannot pass the limit.
        if kernel_id is None:
            if len(self.list_kernel_ids()) + self._starting >= self.max_kernels:
                raise web.HTTPError(
                    403,
                    f"at most {self.max_kernels} kernels may run at once on this server; "
                    "shut one down first (Kernel menu > Shut Down All Kernels, or the Running panel)",
                )
            self._starting += 1
            try:
                return await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)
            finally:
                self._starting -= 1
        return await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)
