"""RDS: what moto gets wrong about an instance's automated backups."""

from .patch import patch


def install() -> None:
    """moto 5.2.5 names an instance's automated snapshot by the minute
    (`rds:<id>-YYYY-MM-DD-HH-MM`) and keeps it when a teardown deletes the
    instance without its automated backups; re-creating the instance in the
    same minute then fails CreateDBInstance with DBSnapshotAlreadyExists. AWS
    never fails a create over its own automated snapshot: skip the copy."""
    from moto.rds.exceptions import DBSnapshotAlreadyExistsError
    from moto.rds.models import DBInstance

    save = DBInstance.save_automated_backup

    def save_automated_backup(self) -> None:
        try:
            save(self)
        except DBSnapshotAlreadyExistsError:
            pass

    patch(DBInstance, "save_automated_backup", save_automated_backup, expects="(self)")
